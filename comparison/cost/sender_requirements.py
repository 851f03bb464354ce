"""What each path asks of the sender — credentials and who holds them, roles, client libraries, what is rotated —
from its one home, comparison/cost/sender_requirements.json (every entry with its sources)."""

import json
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

REQUIREMENTS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'sender_requirements.json')


class RequirementsError(ValueError):
    """The requirements file is not usable: an entry without text or with a source it does not list."""


def check(table: Mapping[str, Any], where: str = REQUIREMENTS_FILE) -> None:
    sources = table.get('sources') or {}
    for key, source in sources.items():
        if not source.get('url') or not source.get('read') or not isinstance(source.get('first_hand'), bool):
            raise RequirementsError('%s: source %s has no {url, read, first_hand, says}' % (where, key))
    for path, aspects in (table.get('paths') or {}).items():
        for aspect in table.get('aspects') or []:
            entry = aspects.get(aspect) or {}
            if not entry.get('text') or not entry.get('short') or not entry.get('sources'):
                raise RequirementsError('%s: %s has no short, text or sources for %r' % (where, path, aspect))
            unknown = [s for s in entry['sources'] if s not in sources]
            if unknown:
                raise RequirementsError('%s: %s %r names unknown source(s) %s' % (where, path, aspect, unknown))


def load(path: str = REQUIREMENTS_FILE) -> Dict[str, Any]:
    with open(path, encoding='utf-8') as handle:
        table = json.load(handle)
    check(table, path)
    return table


def for_report(paths: Sequence[str], table: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """report.json's `sender_requirements`: the aspects, the entries of `paths` that the table holds, in order (the
    caller passes comparison.paths.stated: the run's paths, then those always stated, so every report states both
    sides of the seed's premise), the note and the sources they cite."""
    table = table or load()
    order = [p for p in paths if p in table['paths']]
    cited = sorted({s for p in order for a in table['aspects'] for s in table['paths'][p][a]['sources']})
    return {'as_of': table.get('as_of'), 'note': table.get('note'), 'aspects': list(table['aspects']),
            'paths': {p: table['paths'][p] for p in order}, 'sources': {s: table['sources'][s] for s in cited},
            'home': 'comparison/cost/sender_requirements.json'}


def lines(section: Optional[Mapping[str, Any]], width: int = 116) -> List[str]:
    """The section as terminal lines: per path, one wrapped line per aspect, the source keys in brackets."""
    if not section:
        return []
    import textwrap
    found = ['What each path asks of the sender (%s; sources in report.json)' % section.get('home')]
    for path, aspects in section['paths'].items():
        for aspect in section['aspects']:
            entry = aspects[aspect]
            head = '  %-7s%-17s' % (path if aspect == section['aspects'][0] else '', aspect)
            text = '%s [%s]' % (entry['text'], ', '.join(entry['sources']))
            wrapped = textwrap.wrap(text, width - len(head)) or ['']
            found.append(head + wrapped[0])
            found.extend(' ' * len(head) + more for more in wrapped[1:])
    return found
