"""The failures that stop a run instead of dead-lettering records: no retry and no other record can get past them."""

import ssl
from typing import List, Optional

from urllib3.util.ssl_match_hostname import CertificateError


class OICStopError(RuntimeError):
    """Stops the run; the launcher prints str(error) as the one line of the failure. Never holds a secret."""


class OICAuthError(OICStopError):
    """OIC (or its identity domain) refused the credentials: retrying every record with them helps no one."""


class OICTLSError(OICStopError):
    """The server's certificate is not trusted: nothing is sent to a server this caller cannot verify."""


def tls_refusal(err: BaseException) -> Optional[str]:
    """The verification failure inside a urllib3 SSLError ('certificate verify failed: ...', a hostname mismatch),
    or None when the TLS error is something else (a dropped handshake: worth a retry)."""
    seen = set()
    stack: List[Optional[BaseException]] = [err]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return 'certificate verify failed: %s' % (current.verify_message or current.reason or 'untrusted')
        if isinstance(current, CertificateError):
            return 'hostname mismatch: %s' % str(current)[:200]
        stack.extend([current.__cause__, current.__context__])
        stack.extend(arg for arg in getattr(current, 'args', ()) if isinstance(arg, BaseException))
    return None
