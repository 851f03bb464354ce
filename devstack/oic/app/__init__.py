"""The OIC stand-in's aiohttp application, one concern a module: its state and counters, Basic Auth and the OAuth
identity domain, the request check both triggers share (intake), the per-record and batch triggers, the monitoring
API, the admin API and the routes that assemble them (routes.make_app). Run by devstack/oic/server.py."""
