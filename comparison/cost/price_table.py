"""The dated price table (comparison/cost/prices.json: every number with its page, the date it was read and whether
that page is the vendor's own), checked, and updated from a price file or --price overrides."""

import json
import math
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional

PRICES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'prices.json')
MIB = 2 ** 20
GIB = 2 ** 30
TIB = 2 ** 40
TEXT_KEYS = ('as_of', 'currency', 'note', 'sources', 'source', 'overridden')
# Numbers that may be 0 (a free tier can end); every other number in the table must be > 0.
MAY_BE_ZERO = ('storage_write_free_gib_per_month',)


class PriceError(ValueError):
    """A price file or --price override that cannot be used."""



def _numeric_keys(prices: Mapping[str, Any]) -> List[str]:
    return sorted(k for k, v in prices.items() if isinstance(v, (int, float)) and not isinstance(v, bool))


def check_prices(prices: Mapping[str, Any], where: str) -> None:
    """PriceError unless every number is a positive number (or zero where a free tier may end) with a source."""
    sources = prices.get('sources')
    if not isinstance(sources, dict):
        raise PriceError('%s: no "sources" object naming the page of each price' % where)
    for key, value in prices.items():
        if key in TEXT_KEYS or key.endswith('_note'):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise PriceError('%s: %s must be a number (got %r)' % (where, key, value))
        if value < 0 or (value == 0 and key not in MAY_BE_ZERO):
            raise PriceError('%s: %s must be %s (got %r)' % (
                where, key, '>= 0' if key in MAY_BE_ZERO else '> 0', value))
        source = sources.get(key)
        if not isinstance(source, dict) or not source.get('url') or not source.get('read') \
                or not isinstance(source.get('first_hand'), bool):
            raise PriceError('%s: %s has no source {url, read, first_hand, says}' % (where, key))


def load_prices(path: Optional[str] = None, overrides: Iterable[str] = ()) -> Dict[str, Any]:
    """The default price table, updated from the JSON file `path` and 'key=value' `overrides` (numbers); each
    changed number's source then names the file or the flag. PriceError on anything unusable."""
    with open(PRICES_FILE, encoding='utf-8') as handle:
        prices = json.load(handle)
    check_prices(prices, PRICES_FILE)
    sources = prices['sources']
    if path:
        try:
            with open(path, encoding='utf-8') as handle:
                extra = json.load(handle)
        except (OSError, ValueError) as err:
            raise PriceError('cannot read prices from %s: %s' % (path, err)) from None
        if not isinstance(extra, dict):
            raise PriceError('%s must hold a JSON object of price keys' % path)
        unknown = sorted(k for k in extra if k not in prices and k not in TEXT_KEYS and not k.endswith('_note'))
        if unknown:
            raise PriceError('%s: unknown price key(s) %s (known: %s)' % (
                path, ', '.join(unknown), ', '.join(_numeric_keys(prices))))
        extra_sources = extra.pop('sources', None) or {}
        for key in extra:
            if key in sources:
                sources[key] = extra_sources.get(key) or {
                    'url': path, 'read': extra.get('as_of') or 'unknown', 'first_hand': False,
                    'says': 'from the price file %s' % path}
        prices.update(extra)
        prices['source'] = path
        check_prices(prices, path)
    for item in overrides:
        key, sep, value = item.partition('=')
        if not sep or key not in _numeric_keys(prices):
            raise PriceError('--price takes KEY=NUMBER with KEY one of %s (got %r)' % (
                ', '.join(_numeric_keys(prices)), item))
        try:
            prices[key] = float(value)
        except ValueError:
            raise PriceError('--price %s: %r is not a number' % (key, value)) from None
        sources[key] = {'url': '--price', 'read': 'this run', 'first_hand': False,
                        'says': 'set on the command line: --price %s' % item}
        prices.setdefault('overridden', []).append(key)
        check_prices(prices, '--price %s' % item)
    return prices
