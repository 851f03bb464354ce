"""How the comparison reaches OIC's monitoring API: where it is, which instance, and with which credentials.

Oracle Integration 3 takes OAuth only on its developer APIs, the monitoring API among them ("When is Basic
Authentication Supported in Oracle Integration 3?"; "You Must Use OAuth with the Oracle Integration Developer APIs"),
while integrations themselves may still be invoked with Basic Auth. So the check gets its own token with the client
credentials grant ("Call the Developer APIs with Client Credentials") even when the run posted with Basic Auth: the
`--oic_auth oauth` client of the run, else the same settings from the environment (OIC_TOKEN_URL, OIC_CLIENT_ID,
OIC_SCOPE; the secret from OIC_CLIENT_SECRET or the run's Secret Manager reference, never a flag). Basic Auth is kept
for instances that allow it (Gen2: `--oic_monitoring_auth basic`). The instance name goes with every call
(`integrationInstance`, required by "Retrieve Integration Instances" and "Retrieve an Integration Instance" on OIC 3).
"""

import dataclasses
import os
import urllib.parse
from typing import Mapping, Optional, Union

from transforms.oic.auth import CLIENT_SECRET_ENV, OAuthClient, TokenEndpoint, TokenUnavailable
from transforms.oic.credentials import CredentialsError, PasswordRef
from transforms.oic.errors import OICAuthError, OICStopError
from transforms.oic.urls import MONITORING_PATH
from transforms.run_record.run_info import OICRunInfo, RunInfo

INSTANCE_ENV = 'OIC_INSTANCE'
MONITORING_AUTH_MODES = ('oauth', 'basic')
OAUTH_SETTINGS = (('token_url', 'OIC_TOKEN_URL'), ('client_id', 'OIC_CLIENT_ID'), ('scope', 'OIC_SCOPE'))
FIX_OAUTH = ('set OIC_TOKEN_URL, OIC_CLIENT_ID, OIC_SCOPE and OIC_CLIENT_SECRET (a confidential app with the '
             'ServiceUser role: docs/oic-setup.md), or --oic_monitoring_auth basic on an instance that allows Basic '
             'Auth (Gen2)')
FIX_INSTANCE = ('set OIC_INSTANCE or --oic_instance to the service instance\'s name (the About page\'s Service '
                'instance field)')


class Refused(Exception):
    """OIC (or its identity domain) refused the check, or the check lacks a setting it needs: the message is one
    line naming the fix."""


@dataclasses.dataclass(frozen=True)
class MonitoringAccess:
    """Where and how the check reads OIC's monitoring API. Holds no secret: `oauth` says where the client secret is
    read, Basic Auth's password is passed to `authorization()`."""
    url: str
    auth: str  # 'oauth' or 'basic'
    instance: Optional[str]
    username: Optional[str] = None
    oauth: Optional[OAuthClient] = None
    ca_bundle: Optional[str] = None  # The CA file to trust for https (a local stack's), else the system's store.
    environ: Mapping[str, str] = dataclasses.field(default_factory=lambda: os.environ, repr=False, compare=False)

    @property
    def verify(self) -> Union[bool, str]:
        return self.ca_bundle if self.ca_bundle and os.path.isfile(self.ca_bundle) else True

    def params(self) -> dict:
        """The query parameters every call carries: the instance name when one is known."""
        return {'integrationInstance': self.instance} if self.instance else {}

    def authorization(self, password: Optional[str]) -> str:
        """The Authorization header: a fresh Bearer token, or Basic Auth; Refused with the fix when it cannot be
        made or the token endpoint refuses the client."""
        if self.auth == 'basic':
            if not self.username or not password:
                raise Refused('Basic Auth needs the run\'s username and OIC_PASSWORD; on OIC 3 use OAuth: ' +
                              FIX_OAUTH.split(', or ')[0])
            import urllib3
            return urllib3.make_headers(basic_auth='%s:%s' % (self.username, password))['authorization']
        if self.oauth is None:
            raise Refused('OIC 3\'s monitoring API takes OAuth only: ' + FIX_OAUTH)
        ref = self.oauth.secret_ref
        try:
            secret = ref.read() if ref.secret else self.environ.get(ref.env or '')
        except CredentialsError as err:
            raise Refused('%s; %s' % (err, FIX_OAUTH)) from None
        if not secret:
            raise Refused('%s is empty; %s' % (ref.env, FIX_OAUTH))
        ca_pem = None
        if self.oauth.token_url.lower().startswith('https:') and self.verify is not True:
            with open(str(self.verify), encoding='ascii') as handle:
                ca_pem = handle.read()
        endpoint = TokenEndpoint(self.oauth.token_url, self.oauth.client_id, secret, self.oauth.scope, ca_pem)
        try:
            return 'Bearer ' + endpoint().access_token
        except OICAuthError as err:
            raise Refused(str(err).replace('check --oic_client_id, --oic_scope and the client secret',
                                           'check OIC_CLIENT_ID, OIC_SCOPE and OIC_CLIENT_SECRET')) from None
        except (OICStopError, TokenUnavailable) as err:  # An untrusted certificate, or an outage: not a refusal.
            raise ConnectionError('the token endpoint: %s' % err) from None
        finally:
            endpoint.close()


def monitoring_url(oic_url: str) -> str:
    """The monitoring endpoint on the same host as the REST trigger URL."""
    parts = urllib.parse.urlsplit(oic_url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, MONITORING_PATH, '', ''))


def _oauth_client(oic: OICRunInfo, environ: Mapping[str, str]) -> Optional[OAuthClient]:
    """The run's OAuth client (recorded by --oic_auth oauth or --oic_monitoring_auth oauth), else the environment's;
    None when a setting is missing."""
    recorded = {'token_url': oic.token_url, 'client_id': oic.client_id, 'scope': oic.scope}
    values = {key: str(recorded[key] or environ.get(env) or '') for key, env in OAUTH_SETTINGS}
    if not all(values.values()):
        return None
    secret = oic.client_secret_secret
    where = (PasswordRef(env=None, secret=secret, what='the OAuth client secret') if secret else
             PasswordRef(env=CLIENT_SECRET_ENV, what='the OAuth client secret'))
    return OAuthClient(values['token_url'], values['client_id'], values['scope'], where)


def resolve_access(run: RunInfo, url: Optional[str] = None, username: Optional[str] = None, auth: Optional[str] = None,
                   instance: Optional[str] = None, environ: Optional[Mapping[str, str]] = None) -> MonitoringAccess:
    """The check's access from the run record, the comparison's flags (`url`, `username`, `auth`, `instance`) and
    the environment; Refused when it has no URL."""
    environ = os.environ if environ is None else environ
    oic = run.oic or OICRunInfo()
    url = url or (monitoring_url(oic.url) if oic.url else None)
    if not url:
        raise Refused('the run record has no OIC URL; pass --oic_monitoring_url')
    auth = auth or oic.monitoring_auth or 'oauth'
    if auth not in MONITORING_AUTH_MODES:
        raise Refused('--oic_monitoring_auth takes oauth or basic (got %r)' % auth)
    return MonitoringAccess(
        url=url, auth=auth, instance=instance or oic.instance or environ.get(INSTANCE_ENV) or None,
        username=username or oic.username, oauth=_oauth_client(oic, environ) if auth == 'oauth' else None,
        ca_bundle=oic.ca_bundle or environ.get('OIC_CA_BUNDLE') or None, environ=environ)


def refusal(status: int, detail: str, access: MonitoringAccess) -> str:
    """One line for an answer that refused the check (401, 403, or 400 about the instance name), naming the fix."""
    detail = ' '.join(detail.split())  # OIC's words, on the one line
    if status == 401 and access.auth == 'basic':
        return ('OIC refused Basic Auth on its monitoring API (HTTP 401): OIC 3\'s developer APIs take OAuth only; '
                + FIX_OAUTH.split(', or ')[0] + ' and use --oic_monitoring_auth oauth')
    if status == 401:
        return ('OIC refused the Bearer token on its monitoring API (HTTP 401): check OIC_SCOPE (the instance\'s '
                'audience URL followed by urn:opc:resource:consumer::all) and that the token comes from the '
                'instance\'s identity domain (OIC_TOKEN_URL)')
    if status == 403:
        return ('OIC refused the monitoring API to this client (HTTP 403): grant the confidential app (or user) the '
                'ServiceUser role on the OIC instance (docs/oic-setup.md)')
    if not access.instance:
        return ('OIC refused the monitoring call without an instance name (HTTP %d%s): %s'
                % (status, ': ' + detail[:120] if detail else '', FIX_INSTANCE))
    return ('OIC refused the monitoring call for instance %r (HTTP %d: %s): %s'
            % (access.instance, status, detail[:120], FIX_INSTANCE))
