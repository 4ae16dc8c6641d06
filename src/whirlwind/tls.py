"""TLS material from config (``http_server.tls``, ``grpc_api.tls``…; channels-config.md §5.2).

A PEM value is raw PEM, base64 of a PEM or a file path, tried in that order, as in
Centrifugo. Errors name the config key.
"""

from __future__ import annotations

import base64
import binascii
import os
import ssl
import tempfile

from whirlwind.config.schema import TLSConfig
from whirlwind.errors import ConfigError


def load_pem(value: str, key: str) -> bytes:
    """A PEM given as raw PEM, base64 of a PEM or a file path, tried in that order.

    Raises:
        ConfigError: none of the three yields a PEM; the problem names ``key``.
    """
    if "-----BEGIN" in value:
        return value.encode()
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if b"-----BEGIN" in decoded:
        return decoded
    try:
        with open(os.path.expanduser(value), "rb") as file:
            return file.read()
    except OSError as exc:
        raise ConfigError([f"{key}: not a PEM, a base64 PEM or a readable file ({exc})"]) from exc


def server_ssl_context(tls: TLSConfig, key: str) -> ssl.SSLContext:
    """A server-side context for ``tls``; ``client_ca_pem`` turns on mutual TLS.

    Raises:
        ConfigError: a PEM cannot be read or the certificate and key do not load.
    """
    cert = load_pem(tls.cert_pem, f"{key}.cert_pem")
    private_key = load_pem(tls.key_pem, f"{key}.key_pem")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # load_cert_chain reads files only: hand it the PEMs through a private temporary file.
    with tempfile.NamedTemporaryFile("wb", suffix=".pem") as chain:
        chain.write(cert + b"\n" + private_key)
        chain.flush()
        try:
            context.load_cert_chain(chain.name)
        except ssl.SSLError as exc:
            raise ConfigError(
                [f"{key}: the certificate and key do not load together ({exc.reason or exc})"]
            ) from exc
    if tls.client_ca_pem:
        ca = load_pem(tls.client_ca_pem, f"{key}.client_ca_pem")
        try:
            context.load_verify_locations(cadata=ca.decode())
        except (ssl.SSLError, ValueError) as exc:
            raise ConfigError([f"{key}.client_ca_pem: not a CA certificate ({exc})"]) from exc
        context.verify_mode = ssl.CERT_REQUIRED
    return context
