"""Where the OIC stand-in answers: its two integrations' REST triggers (each in the v1 form and an OIC 3 project's v2
form), the identity domain's token endpoint and OIC's scope, and the admin API. One home for the paths the stand-in's
routes, the stack, the admin client and the tests use; plain constants (no aiohttp), so cheap to import. The
monitoring API's path is transforms.oic.urls.MONITORING_PATH (the comparison's check reads it too)."""

from devstack.oic.instances import INTEGRATION_CODE, PROJECT
from transforms.oic.batch.body import DEFAULT_BATCH_CODE
from transforms.oic.urls import TriggerURL


def _trigger_paths(code):
    """The v1 path and the OIC 3 project (v2) path of the flow `code`'s trigger, version 1.0, resource /records."""
    return tuple(TriggerURL(base='', code=code, version='1.0', project=project, resource='/records').url()
                 for project in (None, PROJECT))


# The per-record integration (devstack/oic/app/record_trigger.py).
TRIGGER_PATH, PROJECT_TRIGGER_PATH = _trigger_paths(INTEGRATION_CODE)
TRIGGER_PATHS = frozenset((TRIGGER_PATH, PROJECT_TRIGGER_PATH))
# The batch integration (devstack/oic/app/batch_trigger.py), at the flow code --oic_batch_url defaults to.
BATCH_CODE = DEFAULT_BATCH_CODE
BATCH_PATH, PROJECT_BATCH_PATH = _trigger_paths(BATCH_CODE)

TOKEN_PATH = '/oauth2/v1/token'  # Where an OCI IAM identity domain answers the client credentials grant.
SCOPE_SUFFIX = 'urn:opc:resource:consumer::all'  # OIC's scope: the instance's audience URL followed by this.

# The stand-in's admin API (devstack/oic/app/admin.py; its client: devstack/oic/admin_client.py).
ADMIN_FAULTS = '/admin/faults'
ADMIN_MODE = '/admin/mode'
ADMIN_STATS = '/admin/stats'
ADMIN_SINK = '/admin/sink'
ADMIN_OAUTH = '/admin/oauth'
HEALTH_PATH = '/healthz'
