"""What the stand-in holds while it runs (one State in the app under STATE): its credentials, mode (edition and
integration), OAuth identity domain (or none), sink, fault settings, tracking instances, capacity gate, counters and
body limit."""

from aiohttp import web

from devstack.oic import capacity as capacity_mod
from devstack.oic import faults as faults_mod
from devstack.oic import instances as instances_mod
from devstack.oic.app.stats import Stats
from devstack.oic.instances import EDITIONS
from devstack.oic.mapping import INTEGRATIONS

DEFAULT_MAX_BODY = 64 * 1024
STATE = web.AppKey('state', object)


class State:
    """The running stand-in's state; `oauth` is an OAuth identity domain (devstack/oic/app/oauth.py) or None."""

    def __init__(self, username, password, sink, fault_settings=None, max_instances=100000,
                 max_body=DEFAULT_MAX_BODY, oauth=None, instance_name=None, edition='oic3', integration='strict'):
        self.credentials = (username.encode('utf-8'), password.encode('utf-8'))
        self.instance_name = instance_name  # integrationInstance, as on the OIC 3 About page's Service instance.
        self.mode = {}
        self.set_mode({'edition': edition, 'integration': integration})
        self.oauth = oauth  # An OAuth, or None: Basic Auth only.
        self.sink = sink
        self.faults = faults_mod.Faults(fault_settings)
        self.instances = instances_mod.InstanceStore(max_instances)
        self.gate = capacity_mod.CapacityGate()
        self.stats = Stats(max_instances, self.gate, sink)
        self.max_body = max_body

    def set_mode(self, changes):
        """Applies {'edition': 'oic3'|'gen2', 'integration': 'strict'|'seed'} (each optional); ValueError on others."""
        if not isinstance(changes, dict) or set(changes) - {'edition', 'integration'}:
            raise ValueError('the mode is an object with edition and integration')
        mode = dict(self.mode, **changes)
        if mode.get('edition') not in EDITIONS or mode.get('integration') not in INTEGRATIONS:
            raise ValueError('edition is one of %s and integration one of %s' % (EDITIONS, INTEGRATIONS))
        self.mode = mode

    @property
    def capacity(self):
        """The concurrency cap of the current settings (0 = unlimited)."""
        return capacity_mod.cap_of(self.faults.settings)

    def retry_after(self):
        """The Retry-After header the settings ask for with a 429 or 503 (none when retry_after is null)."""
        value = self.faults.settings['retry_after']
        return None if value is None else {'Retry-After': '%g' % value}
