"""TLS material from config: PEM sources, contexts, and which port gets which TLS."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from certificates import Certificates, make_certificates

from whirlwind.app import _tls_contexts
from whirlwind.config.schema import Config, HTTPServerConfig, TLSConfig
from whirlwind.errors import ConfigError
from whirlwind.tls import server_ssl_context


@pytest.fixture(scope="module")
def certs() -> Certificates:
    return make_certificates()


def test_context_from_raw_pems_and_mutual_tls(certs: Certificates) -> None:
    cert, key = certs.server_cert.decode(), certs.server_key.decode()
    context = server_ssl_context(TLSConfig(enabled=True, cert_pem=cert, key_pem=key), "k")
    assert context.verify_mode == ssl.CERT_NONE
    mutual = server_ssl_context(
        TLSConfig(enabled=True, cert_pem=cert, key_pem=key, client_ca_pem=certs.ca_cert.decode()),
        "k",
    )
    assert mutual.verify_mode == ssl.CERT_REQUIRED


def test_a_key_that_does_not_match_names_the_key(certs: Certificates) -> None:
    cert, other_key = certs.server_cert.decode(), certs.client_key.decode()
    with pytest.raises(ConfigError, match=r"http_server\.tls: the certificate and key"):
        server_ssl_context(
            TLSConfig(enabled=True, cert_pem=cert, key_pem=other_key), "http_server.tls"
        )


def test_a_missing_file_names_the_key(tmp_path: Path, certs: Certificates) -> None:
    key = certs.server_key.decode()
    with pytest.raises(ConfigError, match=r"http_server\.tls\.cert_pem"):
        server_ssl_context(
            TLSConfig(enabled=True, cert_pem=str(tmp_path / "none.pem"), key_pem=key),
            "http_server.tls",
        )


def test_which_port_gets_which_tls(certs: Certificates) -> None:
    cert, key = certs.server_cert.decode(), certs.server_key.decode()
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
