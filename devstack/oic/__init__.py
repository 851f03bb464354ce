"""The local OIC stand-in: its command (server.py, run as python -m devstack.oic.server), its application by concern
(app/), where it answers (urls.py), the one client of its admin API (admin_client.py), its capacity model, fault
injection, monitoring instances, the insertAll mapping and sink. Imports devstack.bq and transforms (records, URL
rules); never comparison."""
