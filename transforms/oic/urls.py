"""The OIC URL rules: what a trigger (or token) URL may be, and how one is shown in logs and reports (no credentials).
Pure; imported by the caller, auth and the launcher's config."""

import ipaddress
import urllib.parse
from typing import Optional


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
