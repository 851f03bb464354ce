"""The one client of the OIC stand-in's admin API (devstack/oic/app/admin.py): its fault settings, counters, mode,
token endpoint settings and sink, with the stand-in's Basic Auth. Used by the tests (devstack/testing.py's
RunningStack is one), the sweep (comparison/sweep/stand_in_model.py, step.py) and billing's cross-check
(comparison/cost/billing.py); imports only requests, so local tooling can use it without the stand-in's server. A
real OIC has no such API."""

import urllib.parse
from typing import Any, Dict, List, Optional, Tuple, Union

import requests

from devstack.oic import urls

TIMEOUT_S = 10.0


class AdminClient:
    """The admin API of the stand-in at `base` (scheme://host:port). Each call answers the stand-in's JSON object;
    an error status raises requests.HTTPError, an answer that is not a JSON object ValueError."""

    def __init__(self, base: str, auth: Tuple[str, str], verify: Union[bool, str] = True,
                 session: Optional[requests.Session] = None) -> None:
        self.base = base
        self._session = session if session is not None else requests.Session()
        self._session.auth = auth
        self._verify = verify

    @classmethod
    def for_url(cls, url: str, auth: Tuple[str, str], verify: Union[bool, str] = True,
                session: Optional[requests.Session] = None) -> 'AdminClient':
        """The client of the stand-in serving `url` (any URL on it, e.g. its trigger URL)."""
        parts = urllib.parse.urlsplit(url)
        return cls('%s://%s' % (parts.scheme, parts.netloc), auth, verify, session)

    @classmethod
    def find(cls, url: str, auth: Tuple[str, str]) -> Optional['AdminClient']:
        """The client of the stand-in serving `url`, or None when nothing there answers GET /admin/faults as the
        stand-in does (a real OIC)."""
        client = cls.for_url(url, auth)
        try:
            client.faults()
        except (requests.RequestException, ValueError):
            client.close()
            return None
        return client

    def url(self, path: str) -> str:
        return self.base + path

    def call(self, method: str, path: str, **kwargs: Any) -> Dict[str, Any]:
        """One admin call: the answer's JSON object."""
        response = self._session.request(method, self.url(path), timeout=TIMEOUT_S, verify=self._verify, **kwargs)
        response.raise_for_status()
        found = response.json()
        if not isinstance(found, dict):
            raise ValueError('%s answered no JSON object: not the stand-in\'s admin API' % self.url(path))
        return found

    def close(self) -> None:
        self._session.close()

    # -- fault settings (devstack/oic/faults.py)
    def faults(self) -> Dict[str, Any]:
        """The active fault settings."""
        return self.call('GET', urls.ADMIN_FAULTS)

    def set_faults(self, settings: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        """Replaces the OIC fault settings (missing keys take their defaults); returns the active settings."""
        return self.call('PUT', urls.ADMIN_FAULTS, json=settings)

    def update_faults(self, changes: Dict[str, Any]) -> Dict[str, Any]:
        """Changes only the given OIC settings while it runs (e.g. {'max_concurrency': 12}); returns the active ones."""
        return self.call('PATCH', urls.ADMIN_FAULTS, json=changes)

    def reset_faults(self) -> Dict[str, Any]:
        return self.call('DELETE', urls.ADMIN_FAULTS)

    # -- counters
    def stats(self) -> Dict[str, Any]:
        return self.call('GET', urls.ADMIN_STATS)

    def reset_stats(self) -> Dict[str, Any]:
        """Zeroes the request counters and forgets tracking instances."""
        return self.call('DELETE', urls.ADMIN_STATS)

    # -- mode, identity domain, sink
    def set_mode(self, **mode: str) -> Dict[str, Any]:
        """edition='oic3'|'gen2', integration='strict'|'seed' (each optional); returns the stand-in's mode."""
        return self.call('PUT', urls.ADMIN_MODE, json=mode)

    def oauth(self) -> Dict[str, Any]:
        """The token endpoint's settings: ttl, fail_next, fail_status, live_tokens."""
        return self.call('GET', urls.ADMIN_OAUTH)

    def issued_tokens(self) -> List[str]:
        """Every access token the stand-in handed out (the last 1,000), to check none leaked into output."""
        return self.call('GET', urls.ADMIN_OAUTH, params={'tokens': '1'})['issued_tokens']

    def set_oauth(self, **settings: Any) -> Dict[str, Any]:
        """Changes the token lifetime (ttl, for tokens issued from now on), makes the next `fail_next` token requests
        answer `fail_status`, or (revoke=True) refuses every token issued so far."""
        return self.call('PUT', urls.ADMIN_OAUTH, json=settings)

    def sink_stats(self) -> Dict[str, Any]:
        """insert_calls, rows_written, rows_refused, max_batch_rows, queued_rows, held."""
        return self.call('GET', urls.ADMIN_SINK)

    def hold_sink(self, held: bool = True) -> Dict[str, Any]:
        """held: the stand-in's sink starts no insertAll and trigger requests queue for it; False: it writes everything
        waiting in one call (group commit). Returns the sink's counters."""
        return self.call('PUT', urls.ADMIN_SINK, json={'hold': held})
