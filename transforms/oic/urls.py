"""The OIC URL rules: what a trigger (or token) URL may be, its parts (flow code, version, project), and how one is
shown in logs and reports (no credentials). Pure; imported by the caller, auth, the launcher's config and the
comparison."""

import dataclasses
import ipaddress
import re
import urllib.parse
from typing import Optional

# The path OIC's monitoring API answers on (one home: the comparison's check, the stand-in and the stack's status).
MONITORING_PATH = '/ic/api/integration/v1/monitoring/instances'

# The two forms of a REST trigger's URL. v1: Oracle's REST adapter page ("REST Adapter Capabilities" / "About Requests
# to Invoke Integrations", Using the REST Adapter with Oracle Integration 3) shows
# /ic/api/integration/v1/flows/rest/<CODE>/<VERSION>/<resource>. Integrations inside an OIC 3 project are invoked at
# /ic/api/integration/v2/flows/rest/project/<PROJECT>/<CODE>/<VERSION>/<resource> (seen in Oracle's labs and blogs,
# not on a reference page: /work/shared/research/oic-and-bigquery-facts.md).
_TRIGGER_PATH = re.compile(
    r'^(?P<prefix>.*?)/ic/api/integration/(?:v1/flows/rest|v2/flows/rest/project/(?P<project>[^/]+))'
    r'/(?P<code>[^/]+)/(?P<version>[^/]+)(?P<resource>/.*)?$')


@dataclasses.dataclass(frozen=True)
class TriggerURL:
    """A REST trigger URL in its parts; `project` is None for the v1 form. `url()` puts them back together, with
    another flow code when asked (the batch integration beside a per-record one, in the same project)."""
    base: str  # scheme://host[:port] and any path before /ic/
    code: str
    version: str
    project: Optional[str] = None
    resource: str = ''  # The path after the version, with its leading '/', or ''.
    query: str = ''

    def url(self, code: Optional[str] = None) -> str:
        if self.project is None:
            path = '/ic/api/integration/v1/flows/rest/%s/%s' % (code or self.code, self.version)
        else:
            path = '/ic/api/integration/v2/flows/rest/project/%s/%s/%s' % (self.project, code or self.code,
                                                                            self.version)
        return self.base + path + self.resource + ('?' + self.query if self.query else '')


def parse_trigger_url(url: Optional[str]) -> Optional[TriggerURL]:
    """The parts of a REST trigger URL in either form (v1, or v2 in a project), or None when `url` is neither."""
    try:
        parts = urllib.parse.urlsplit(url or '')
    except ValueError:
        return None
    match = _TRIGGER_PATH.match(parts.path)
    if not match or not parts.scheme or not parts.netloc:
        return None
    return TriggerURL(base='%s://%s%s' % (parts.scheme, parts.netloc, match.group('prefix')),
                      code=urllib.parse.unquote(match.group('code')), version=match.group('version'),
                      project=match.group('project'), resource=match.group('resource') or '', query=parts.query)


def redact_url(url: Optional[str]) -> Optional[str]:
    """The URL without any user:password part or query, for logs and reports."""
    if not url:
        return url
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ''
        if parts.port:
            host = '%s:%d' % (host, parts.port)
    except ValueError:  # Unparseable (bad port, unclosed IPv6 bracket): show no part that could hold a password.
        return '<malformed URL>'
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, '', ''))


def check_oic_url(url: Optional[str], allow_insecure_http: bool = False, what: str = 'Basic Auth') -> None:
    """The one rule for the OIC trigger URL (and the OAuth token URL): an http(s) URL with a host and a valid port,
    no credentials in it, and no plain http:// to a host that is not loopback unless explicitly allowed (`what`,
    Basic Auth or a token or client secret, would travel in clear). Raises ValueError naming the problem; the
    launcher reports it as a usage error."""
    try:
        parts = urllib.parse.urlsplit(url or '')
        _ = parts.port  # Raises ValueError for a port that is not a number in range.
    except ValueError as err:
        raise ValueError('the OIC URL is not a valid URL (%s)' % err) from None
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        raise ValueError('the OIC URL must be an http(s) URL, e.g. '
                         'https://HOST/ic/api/integration/v1/flows/rest/CODE/1.0/records (got %r)' % redact_url(url))
    if parts.username or parts.password:
        raise ValueError('the OIC URL must not contain credentials; use --oic_username and OIC_PASSWORD')
    if parts.scheme == 'http' and not allow_insecure_http and not is_loopback(parts.hostname):
        raise ValueError('refusing to send %s over plain http:// to %s; use https:// or pass '
                         '--allow_insecure_http' % (what, parts.hostname))


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1): the only hosts Basic Auth may reach over http."""
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
