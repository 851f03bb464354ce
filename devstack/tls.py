"""A per-stack local certificate authority and the OIC stand-in's server certificate (trustme, made for this)."""

import dataclasses
import os

import trustme

TLS_DIR = 'tls'
CA_FILE = 'ca.pem'  # The CA's certificate only: what a client trusts (OIC_CA_BUNDLE).
SERVER_FILE = 'server.pem'  # The server's private key and certificate chain (0600): what the stand-in serves.


@dataclasses.dataclass(frozen=True)
class StackCertificates:
    ca_bundle: str
    server_pem: str


def make_certificates(state_dir: str, hosts=('127.0.0.1', 'localhost')) -> StackCertificates:
    """A new CA and a server certificate for `hosts`, written under state_dir/tls; a new stack never reuses a CA, so
    a bundle trusted for one stack is worth nothing against another."""
    directory = os.path.join(state_dir, TLS_DIR)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    ca = trustme.CA(organization_name='OIC local stack')
    server = ca.issue_cert(*hosts)
    certificates = StackCertificates(os.path.join(directory, CA_FILE), os.path.join(directory, SERVER_FILE))
    _write(certificates.ca_bundle, ca.cert_pem.bytes(), 0o644)
    _write(certificates.server_pem, server.private_key_and_cert_chain_pem.bytes(), 0o600)
    return certificates


def _write(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)
    with os.fdopen(fd, 'wb') as handle:
        handle.write(data)
