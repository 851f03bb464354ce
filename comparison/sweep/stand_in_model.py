"""The local OIC stand-in's model during a sweep: a stated service time and a capacity from message packs (100
synchronous requests in flight each, 400 BYOL, at most 2,000; beyond it the stand-in answers 429 as OIC does), set
through its admin API and stated on the page."""

import argparse
from typing import Any, Mapping, Optional

from devstack.oic.admin_client import AdminClient
from pipeline.options import WarehouseOptions

DEFAULT_SERVICE_MS = 100.0
DEFAULT_PACKS = 1


def find_stand_in(flags: WarehouseOptions, environ: Mapping[str, str]) -> Optional[AdminClient]:
    """The admin client of the OIC stand-in behind the run's OIC URL, or None (a real OIC has no /admin/faults)."""
    url = flags.oic_url or environ.get('OIC_URL')
    user = flags.oic_username or environ.get('OIC_USERNAME')
    password = environ.get('OIC_PASSWORD')
    if not url or not user or not password:
        return None
    return AdminClient.find(url, (user, password))


def capacity_of(packs: int, byol: bool, prices: Mapping[str, Any]) -> int:
    """Synchronous requests OIC serves at once with `packs` message packs (Oracle's table, via prices.json)."""
    per_pack = prices['oic_byol_sync_requests_per_pack' if byol else 'oic_sync_requests_per_pack']
    return int(min(prices['oic_max_sync_requests'], packs * per_pack))


def model_settings(args: argparse.Namespace, current: Mapping[str, Any], capacity: int) -> dict:
    """The stand-in's settings for the sweep: its current ones with the stated service time, and its concurrency
    cap (beyond it: 429 at once, as OIC answers) at the packs' capacity."""
    return dict(current, latency_ms=args.oic_service_ms, jitter_ms=0, max_concurrency=capacity)


def describe_model(args: argparse.Namespace, capacity: int) -> dict:
    """The model as the page states it."""
    service_s = args.oic_service_ms / 1000.0
    ceiling = round(capacity / service_s, 1) if service_s else None
    return {
        'service_ms': args.oic_service_ms, 'message_packs': args.oic_packs, 'byol': bool(args.oic_byol),
        'capacity_in_flight': capacity, 'over_capacity': '429', 'capacity_rps': ceiling,
        'text': ('the local OIC stand-in serves each request in %g ms and holds %d requests at once (%d %s '
                 'pack(s), as OIC 3 documents for synchronous requests), so at most %s requests/s; beyond that it '
                 'answers 429 at once. Its rows go to the local BigQuery emulator (the rows of concurrent requests '
                 'in one insertAll).' % (
                     args.oic_service_ms, capacity, args.oic_packs,
                     'BYOL' if args.oic_byol else 'license-included', '%g' % ceiling if ceiling else 'unbounded')),
    }
