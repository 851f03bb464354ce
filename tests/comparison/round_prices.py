"""Round prices for the cost tests: every figure chosen so that the expected costs can be worked out by hand."""

PRICES = {
    'hours_per_month': 730, 'oic_pack_hour_usd': 1.0, 'oic_messages_per_pack_hour': 5000, 'oic_message_kb': 50,
    'oic_max_packs': 100, 'streaming_insert_usd_per_200mb': 0.01, 'streaming_insert_min_row_bytes': 1024,
    'storage_write_usd_per_gib': 0.025, 'storage_write_free_gib_per_month': 2048, 'as_of': 'test',
    'oic_byol_pack_hour_usd': 0.5, 'oic_byol_messages_per_pack_hour': 20000, 'oic_enterprise_pack_hour_usd': 2.0,
    'oic_sync_requests_per_pack': 100, 'oic_byol_sync_requests_per_pack': 400, 'oic_max_sync_requests': 2000,
}
