"""Where the OIC password (or the OAuth client secret) comes from: an environment variable (local) or Secret Manager
(Dataflow), read on the worker."""

import dataclasses
import os
from typing import Optional


class CredentialsError(RuntimeError):
    """The password could not be read; the message names where it was looked for, never the value."""


@dataclasses.dataclass(frozen=True)
class PasswordRef:
    """A pointer to the password, safe to pickle and to show: it never holds the password itself. `what` names it in
    messages (e.g. 'the OAuth client secret')."""
    env: Optional[str] = 'OIC_PASSWORD'
    secret: Optional[str] = None
    what: str = 'the OIC password'

    def read(self) -> str:
        if self.secret:
            return _read_secret(self.secret, self.what)
        value = os.environ.get(self.env or '')
        if not value:
            raise CredentialsError('%s is not set: environment variable %s is empty on this worker' %
                                   (self.what, self.env))
        return value


def _read_secret(name, what='the OIC password'):
    try:
        from google.cloud import secretmanager  # Imported here: only Dataflow runs need it.
        client = secretmanager.SecretManagerServiceClient()
        try:
            return client.access_secret_version(request={'name': name}).payload.data.decode('utf-8')
        finally:
            client.transport.close()
    except Exception as err:  # The client's errors vary; report where we looked and the kind of failure only.
        raise CredentialsError('could not read %s from Secret Manager %s: %s' %
                               (what, name, type(err).__name__)) from None
