"""TLS material from config: PEM sources, contexts, and which port gets which TLS."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from whirlwind.app import _tls_contexts
from whirlwind.config.schema import Config, HTTPServerConfig, TLSConfig
from whirlwind.errors import ConfigError
from whirlwind.tls import server_ssl_context


def self_signed() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


@pytest.fixture(scope="module")
def pair() -> tuple[str, str]:
    return self_signed()


def test_context_from_raw_pems_and_mutual_tls(pair: tuple[str, str]) -> None:
    cert, key = pair
    context = server_ssl_context(TLSConfig(enabled=True, cert_pem=cert, key_pem=key), "k")
    assert context.verify_mode == ssl.CERT_NONE
    mutual = server_ssl_context(
        TLSConfig(enabled=True, cert_pem=cert, key_pem=key, client_ca_pem=cert), "k"
    )
    assert mutual.verify_mode == ssl.CERT_REQUIRED


def test_a_key_that_does_not_match_names_the_key(pair: tuple[str, str]) -> None:
    cert, _ = pair
    _, other_key = self_signed()
    with pytest.raises(ConfigError, match=r"http_server\.tls: the certificate and key"):
        server_ssl_context(
            TLSConfig(enabled=True, cert_pem=cert, key_pem=other_key), "http_server.tls"
        )


def test_a_missing_file_names_the_key(tmp_path: Path, pair: tuple[str, str]) -> None:
    _, key = pair
    with pytest.raises(ConfigError, match=r"http_server\.tls\.cert_pem"):
        server_ssl_context(
            TLSConfig(enabled=True, cert_pem=str(tmp_path / "none.pem"), key_pem=key),
            "http_server.tls",
        )


def test_which_port_gets_which_tls(pair: tuple[str, str]) -> None:
    cert, key = pair
    tls = TLSConfig(enabled=True, cert_pem=cert, key_pem=key)

    def contexts(**http: object) -> tuple[bool, bool]:
        main, internal = _tls_contexts(Config(http_server=HTTPServerConfig(**http)))  # type: ignore[arg-type]
        return main is not None, internal is not None

    assert contexts() == (False, False)
    assert contexts(tls=tls) == (True, True)  # the internal port too, by default
    assert contexts(tls=tls, tls_external=True) == (True, False)
    assert contexts(internal_tls=tls) == (False, True)
    main, internal = _tls_contexts(
        Config(http_server=HTTPServerConfig(tls=tls, tls_external=True, internal_tls=tls))
    )
    assert main is not None and internal is not None and main is not internal
