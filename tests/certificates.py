"""TLS material for tests: a CA, a server and a client certificate, made fresh each time.

Shared by the unit tests (``test_tls.py``) and the integration harness; ``tests`` is on
``sys.path`` through ``[tool.pytest.ini_options] pythonpath``.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["Certificates", "make_certificates"]


@dataclass
class Certificates:
    """A CA, a server certificate (localhost, 127.0.0.1) and a client one, all PEM."""

    ca_cert: bytes
    server_cert: bytes
    server_key: bytes
    client_cert: bytes
    client_key: bytes


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _certificate(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    san: bool = False,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = issuer if issuer is not None else (subject, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def make_certificates() -> Certificates:
    """Fresh certificates made with ``cryptography``."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("whirlwind test CA", ca_key, None, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _certificate("localhost", server_key, (ca.subject, ca_key), san=True)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _certificate("test client", client_key, (ca.subject, ca_key))
    pem = serialization.Encoding.PEM
    return Certificates(
        ca_cert=ca.public_bytes(pem),
        server_cert=server.public_bytes(pem),
        server_key=_key_pem(server_key),
        client_cert=client.public_bytes(pem),
        client_key=_key_pem(client_key),
    )
