"""Round prices for the cost tests: every figure chosen so that the expected costs can be worked out by hand; and
the paths' costs and curves priced at them."""

from comparison import paths
from comparison.cost.curves import CurveBasis
from comparison.cost.sizing import DEFAULT_OIC_RESPONSE_S

PRICES = {
    'hours_per_month': 730, 'oic_pack_hour_usd': 1.0, 'oic_messages_per_pack_hour': 5000, 'oic_message_kb': 50,
    'oic_max_packs': 100, 'streaming_insert_usd_per_200mb': 0.01, 'streaming_insert_min_row_bytes': 1024,
    'storage_write_usd_per_gib': 0.025, 'storage_write_free_gib_per_month': 2048, 'as_of': 'test',
    'oic_byol_pack_hour_usd': 0.5, 'oic_byol_messages_per_pack_hour': 20000, 'oic_enterprise_pack_hour_usd': 2.0,
    'oic_sync_requests_per_pack': 100, 'oic_byol_sync_requests_per_pack': 400, 'oic_max_sync_requests': 2000,
}


def seed_curves(row_bytes, payload_bytes, prices=PRICES, response_s=DEFAULT_OIC_RESPONSE_S, batch_kb=None):
    """The cost curve's paths when a run took none: the seed's comparison (OIC and the direct path), priced from
    these sizes."""
    return paths.priced([], CurveBasis(row_bytes=row_bytes, payload_bytes=payload_bytes, prices=prices,
                                       response_s=response_s, batch_kb=batch_kb))


def path_cost(path, at_rate, row_bytes, payload_bytes, prices=PRICES, response_s=DEFAULT_OIC_RESPONSE_S,
              at_rate_source=None, **shape):
    """A path's cost at a stated rate, as its declaration prices it."""
    return paths.of(path).cost(paths.CostInputs(
        at_rate=at_rate, at_rate_source=at_rate_source, row_bytes=row_bytes, payload_bytes=payload_bytes,
        prices=prices, oic_response_s=response_s, **shape))
