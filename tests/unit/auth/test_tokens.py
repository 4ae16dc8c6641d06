"""Tests for connection and subscription JWT verification (client-protocol.md §12)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from whirlwind.auth import tokens
from whirlwind.auth.tokens import (
    ConnectToken,
    SubscribeOptions,
    SubscriptionOverride,
    SubscriptionToken,
    TokenSettings,
    TokenVerifier,
    make_token,
)
from whirlwind.errors import ConfigError, InvalidState, InvalidToken, TokenError, TokenExpired

NOW = 1_700_000_000.0
SECRET = "s" * 64  # long enough for HS512 without PyJWT's key-length warning
OTHER_SECRET = "o" * 64
CURVES = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}


# ---------------------------------------------------------------------------
# Helpers and fixtures


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """Build a token by hand, HMAC-SHA256-signed with ``key`` or unsigned."""
    signing_input = f"{b64url(orjson.dumps(header))}.{b64url(orjson.dumps(claims))}"
    if key is None:
        return signing_input + "."
    digest = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(digest)}"


def hs(claims: dict[str, Any], algorithm: str = "HS256", secret: str = SECRET) -> str:
    """Sign with :func:`make_token`, which (unlike PyJWT) lets any claim type through."""
    return make_token(secret, claims, algorithm)


def pem_public(key: Any) -> str:
    data: bytes = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return data.decode()


def pem_private(key: Any) -> str:
    data: bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return data.decode()


def verifier(**kwargs: Any) -> TokenVerifier:
    options = {
        name: kwargs.pop(name)
        for name in ("insecure_skip_signature", "http_fetch", "jwks_refresh_interval")
        if name in kwargs
    }
    return TokenVerifier(TokenSettings(**kwargs), **options)


def connect(v: TokenVerifier, token: str, now: float = NOW, **kw: Any) -> ConnectToken:
    return v.verify_connection_token_sync(token, now=now, **kw)


def subscribe(v: TokenVerifier, token: str, now: float = NOW, **kw: Any) -> SubscriptionToken:
    return v.verify_subscription_token_sync(token, now=now, **kw)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_keys() -> dict[str, ec.EllipticCurvePrivateKey]:
    return {alg: ec.generate_private_key(curve) for alg, curve in CURVES.items()}


@pytest.fixture
def hmac_verifier() -> TokenVerifier:
    return verifier(hmac_secret_key=SECRET)


# ---------------------------------------------------------------------------
# Algorithms and keys


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_hmac_algorithms_are_accepted(hmac_verifier: TokenVerifier, algorithm: str) -> None:
    assert connect(hmac_verifier, hs({"sub": "42"}, algorithm)).user == "42"
    token = jwt.encode({"sub": "43"}, SECRET, algorithm=algorithm)
    assert connect(hmac_verifier, token).user == "43"


@pytest.mark.parametrize("algorithm", ["RS256", "RS384", "RS512"])
def test_rsa_algorithms_are_accepted(rsa_key: rsa.RSAPrivateKey, algorithm: str) -> None:
    v = verifier(rsa_public_key=pem_public(rsa_key))
    token = jwt.encode({"sub": "42"}, rsa_key, algorithm=algorithm)
    assert connect(v, token).user == "42"


@pytest.mark.parametrize("algorithm", ["ES256", "ES384", "ES512"])
def test_ecdsa_algorithms_are_accepted(
    ec_keys: dict[str, ec.EllipticCurvePrivateKey], algorithm: str
) -> None:
    key = ec_keys[algorithm]
    v = verifier(ecdsa_public_key=pem_public(key))
    token = jwt.encode({"sub": "42"}, key, algorithm=algorithm)
    assert connect(v, token).user == "42"


def test_ecdsa_algorithm_must_match_the_key_curve(
    ec_keys: dict[str, ec.EllipticCurvePrivateKey],
) -> None:
    """A P-384 key only verifies ES384, as Centrifugo builds one verifier per curve."""
    v = verifier(ecdsa_public_key=pem_public(ec_keys["ES384"]))
    token = make_token(pem_private(ec_keys["ES256"]), {"sub": "42"}, "ES256")
    with pytest.raises(InvalidToken, match="ES256"):
        connect(v, token)


def test_rsa_token_refused_without_rsa_key(rsa_key: rsa.RSAPrivateKey) -> None:
    v = verifier(hmac_secret_key=SECRET)
    token = jwt.encode({"sub": "42"}, rsa_key, algorithm="RS256")
    with pytest.raises(InvalidToken, match="no key configured"):
        connect(v, token)


def test_hmac_token_refused_without_hmac_secret(rsa_key: rsa.RSAPrivateKey) -> None:
    v = verifier(rsa_public_key=pem_public(rsa_key))
    with pytest.raises(InvalidToken, match="no key configured"):
        connect(v, hs({"sub": "42"}))


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
@pytest.mark.parametrize("skip", [False, True])
def test_alg_none_is_always_refused(alg: str, skip: bool) -> None:
    v = verifier(hmac_secret_key=SECRET, insecure_skip_signature=skip)
    token = forge({"alg": alg, "typ": "JWT"}, {"sub": "42"}, None)
    with pytest.raises(InvalidToken, match="alg none"):
        connect(v, token)


@pytest.mark.parametrize("with_hmac", [False, True])
def test_hs_token_signed_with_rsa_public_pem_is_refused(
    rsa_key: rsa.RSAPrivateKey, with_hmac: bool
) -> None:
    """Algorithm confusion: the RSA public key is never used as an HMAC secret."""
    pem = pem_public(rsa_key)
    v = verifier(rsa_public_key=pem, hmac_secret_key=SECRET if with_hmac else "")
    token = forge({"alg": "HS256", "typ": "JWT"}, {"sub": "admin"}, pem.encode())
    with pytest.raises(InvalidToken):
        connect(v, token)


def test_wrong_secret_is_refused(hmac_verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidToken, match="signature") as info:
        connect(hmac_verifier, hs({"sub": "42"}, secret=OTHER_SECRET))
    assert SECRET not in str(info.value)
    assert OTHER_SECRET not in str(info.value)


def test_tampered_payload_is_refused(hmac_verifier: TokenVerifier) -> None:
    header, _, signature = hs({"sub": "42"}).split(".")
    payload = b64url(b'{"sub":"admin"}')
    tampered = f"{header}.{payload}.{signature}"
    with pytest.raises(InvalidToken, match="signature") as info:
        connect(hmac_verifier, tampered)
    assert tampered not in str(info.value)


def test_unsupported_algorithm_is_refused(hmac_verifier: TokenVerifier) -> None:
    token = forge({"alg": "PS256"}, {"sub": "42"}, SECRET.encode())
    with pytest.raises(InvalidToken, match="unsupported"):
        connect(hmac_verifier, token)


def test_short_secrets_work_without_warnings() -> None:
    """Centrifugo accepts any HMAC secret; PyJWT's key-length warning must not fire."""
    v = verifier(hmac_secret_key="secret")
    assert connect(v, make_token("secret", {"sub": "1"})).user == "1"


def test_make_token_with_private_keys(
    rsa_key: rsa.RSAPrivateKey, ec_keys: dict[str, ec.EllipticCurvePrivateKey]
) -> None:
    v = verifier(rsa_public_key=pem_public(rsa_key))
    assert connect(v, make_token(pem_private(rsa_key), {"sub": "1"}, "RS384")).user == "1"
    with pytest.raises(ValueError, match="private key"):
        make_token(pem_public(rsa_key), {"sub": "1"}, "RS256")
    with pytest.raises(ValueError, match="unsupported"):
        make_token(SECRET, {"sub": "1"}, "none")
    with pytest.raises(ValueError, match="empty"):
        make_token("", {"sub": "1"})


# ---------------------------------------------------------------------------
# Previous HMAC secret


def test_previous_hmac_secret_accepted_until_valid_until() -> None:
    v = verifier(
        hmac_secret_key=SECRET,
        hmac_previous_secret_key=OTHER_SECRET,
        hmac_previous_secret_key_valid_until=int(NOW) + 60,
    )
    old = hs({"sub": "42"}, secret=OTHER_SECRET)
    assert connect(v, old, now=NOW + 59).user == "42"
    assert connect(v, hs({"sub": "42"}), now=NOW + 3600).user == "42"
    with pytest.raises(InvalidToken, match="signature"):
        connect(v, old, now=NOW + 60)


def test_previous_hmac_secret_without_valid_until_is_never_accepted() -> None:
    v = verifier(hmac_secret_key=SECRET, hmac_previous_secret_key=OTHER_SECRET)
    with pytest.raises(InvalidToken):
        connect(v, hs({"sub": "42"}, secret=OTHER_SECRET))


# ---------------------------------------------------------------------------
# Time


def test_expired_token_raises_token_expired(hmac_verifier: TokenVerifier) -> None:
    with pytest.raises(TokenExpired):
        connect(hmac_verifier, hs({"sub": "42", "exp": int(NOW) - 1}))


def test_token_expires_exactly_at_exp(hmac_verifier: TokenVerifier) -> None:
    token = hs({"sub": "42", "exp": int(NOW) + 10})
    assert connect(hmac_verifier, token, now=NOW + 9.5).expire_at == int(NOW) + 10
    with pytest.raises(TokenExpired):
        connect(hmac_verifier, token, now=NOW + 10)


def test_expiry_uses_the_injected_clock_not_the_real_one(hmac_verifier: TokenVerifier) -> None:
    token = hs({"sub": "42", "exp": 1000})  # long past in real time
    assert connect(hmac_verifier, token, now=999).expire_at == 1000


def test_ignore_expiry_accepts_expired_token(hmac_verifier: TokenVerifier) -> None:
    token = hs({"sub": "42", "exp": int(NOW) - 100})
    assert connect(hmac_verifier, token, ignore_expiry=True).user == "42"
    assert (
        subscribe(
            hmac_verifier, hs({"sub": "42", "channel": "c", "exp": 1}), ignore_expiry=True
        ).channel
        == "c"
    )


def test_not_before_in_the_future_is_refused(hmac_verifier: TokenVerifier) -> None:
    """Centrifugo answers an early ``nbf`` with ErrTokenExpired (→ 109, the SDK retries)."""
    token = hs({"sub": "42", "nbf": int(NOW) + 5})
    with pytest.raises(TokenExpired, match="nbf"):
        connect(hmac_verifier, token)
    assert connect(hmac_verifier, token, now=NOW + 5).user == "42"


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({}, None),
        ({"exp": 2_000_000_000}, 2_000_000_000),
        ({"exp": 2_000_000_000, "expire_at": 1_900_000_000}, 1_900_000_000),
        ({"exp": 2_000_000_000, "expire_at": 0}, None),
        ({"expire_at": 1_900_000_000}, 1_900_000_000),
        ({"exp": 2_000_000_000, "expire_at": None}, 2_000_000_000),
        ({"exp": 2_000_000_000.7}, 2_000_000_000),
    ],
)
def test_expire_at_semantics(
    hmac_verifier: TokenVerifier, claims: dict[str, Any], expected: int | None
) -> None:
    assert connect(hmac_verifier, hs({"sub": "1", **claims})).expire_at == expected
    sub_claims = {"sub": "1", "channel": "c", **claims}
    assert subscribe(hmac_verifier, hs(sub_claims)).expire_at == expected


def test_expire_at_decoupled_from_exp_still_gates_on_exp(hmac_verifier: TokenVerifier) -> None:
    token = hs({"sub": "1", "exp": int(NOW) - 1, "expire_at": int(NOW) + 3600})
    with pytest.raises(TokenExpired):
        connect(hmac_verifier, token)


# ---------------------------------------------------------------------------
# Audience and issuer


@pytest.mark.parametrize(
    ("settings_", "claims", "ok"),
    [
        ({"audience": "app"}, {"aud": "app"}, True),
        ({"audience": "app"}, {"aud": ["x", "app"]}, True),
        ({"audience": "app"}, {"aud": "other"}, False),
        ({"audience": "app"}, {}, False),
        ({"audience_regex": r"^app-(?P<tenant>a|b)$"}, {"aud": "app-a"}, True),
        ({"audience_regex": r"^app-(a|b)$"}, {"aud": ["x", "app-b"]}, True),
        ({"audience_regex": r"^app-(a|b)$"}, {"aud": "app-c"}, False),
        ({"audience_regex": r"^app$"}, {}, False),
        ({"issuer": "auth"}, {"iss": "auth"}, True),
        ({"issuer": "auth"}, {"iss": "evil"}, False),
        ({"issuer": "auth"}, {}, False),
        (
            {"issuer_regex": r"^https://(a|b)\.example\.com$"},
            {"iss": "https://b.example.com"},
            True,
        ),
        (
            {"issuer_regex": r"^https://(a|b)\.example\.com$"},
            {"iss": "https://c.example.com"},
            False,
        ),
        ({}, {"aud": "anything", "iss": "anyone"}, True),
    ],
)
def test_audience_and_issuer(settings_: dict[str, str], claims: dict[str, Any], ok: bool) -> None:
    v = verifier(hmac_secret_key=SECRET, **settings_)
    for verify, extra in ((connect, {}), (subscribe, {"channel": "c"})):
        token = hs({"sub": "1", **extra, **claims})
        if ok:
            verify(v, token)
        else:
            with pytest.raises(InvalidToken, match=r"audience|issuer"):
                verify(v, token)


def test_audience_mismatch_wins_over_expiry() -> None:
    """As in Centrifugo, claim checks come before the time check."""
    v = verifier(hmac_secret_key=SECRET, audience="app")
    with pytest.raises(InvalidToken):
        connect(v, hs({"sub": "1", "aud": "other", "exp": 1}))


# ---------------------------------------------------------------------------
# Connection token claims


def test_connection_token_claims(hmac_verifier: TokenVerifier) -> None:
    claims = {
        "sub": "42",
        "iat": 1_600_000_000,
        "jti": "token-1",
        "info": {"name": "Alice", "tags": [1, 2]},
        "meta": {"role": "admin"},
        "channels": ["news", "chat:index"],
    }
    token = connect(hmac_verifier, hs(claims))
    assert token == ConnectToken(
        user="42",
        expire_at=None,
        info=b'{"name":"Alice","tags":[1,2]}',
        channels=("news", "chat:index"),
        subs={},
        meta=b'{"role":"admin"}',
        issued_at=1_600_000_000,
        token_id="token-1",
    )


def test_missing_sub_is_anonymous(hmac_verifier: TokenVerifier) -> None:
    assert connect(hmac_verifier, hs({})).user == ""


def test_b64info_takes_precedence_over_info(hmac_verifier: TokenVerifier) -> None:
    claims = {"info": {"a": 1}, "b64info": base64.b64encode(b"\x00\xffbin").decode()}
    assert connect(hmac_verifier, hs(claims)).info == b"\x00\xffbin"
    assert connect(hmac_verifier, hs({"info": {"a": 1}, "b64info": ""})).info == b'{"a":1}'


@pytest.mark.parametrize("info", ["plain", 7, [1, "x"], True])
def test_info_may_be_any_json_value(hmac_verifier: TokenVerifier, info: Any) -> None:
    assert connect(hmac_verifier, hs({"info": info})).info == orjson.dumps(info)


def test_subs_claim_options(hmac_verifier: TokenVerifier) -> None:
    claims = {
        "sub": "42",
        "subs": {
            "news": {
                "info": {"x": 1},
                "data": {"welcome": True},
                "override": {
                    "presence": {"value": False},
                    "join_leave": {"value": True},
                    "force_push_join_leave": {},
                    "force_recovery": {"value": True},
                    "force_positioning": None,
                    "unknown": {"value": 1},
                },
            },
            "chat": {"b64info": base64.b64encode(b"ci").decode(), "b64data": "AAE="},
            "plain": {},
            "null": None,
        },
    }
    token = connect(hmac_verifier, hs(claims))
    assert token.subs == {
        "news": SubscribeOptions(
            info=b'{"x":1}',
            data=b'{"welcome":true}',
            override=SubscriptionOverride(
                presence=False,
                join_leave=True,
                force_push_join_leave=False,
                force_recovery=True,
                force_positioning=None,
            ),
        ),
        "chat": SubscribeOptions(info=b"ci", data=b"\x00\x01"),
        "plain": SubscribeOptions(),
        "null": SubscribeOptions(),
    }


def test_connection_token_with_channel_claim_is_invalid(hmac_verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidToken, match="channel"):
        connect(hmac_verifier, hs({"sub": "42", "channel": "news"}))
    assert connect(hmac_verifier, hs({"sub": "42", "channel": ""})).user == "42"


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": 42},
        {"sub": ["a"]},
        {"exp": "soon"},
        {"exp": True},
        {"nbf": "now"},
        {"iat": {}},
        {"jti": 1},
        {"aud": 1},
        {"aud": ["a", 1]},
        {"iss": 1},
        {"expire_at": 1.5},
        {"expire_at": "never"},
        {"channels": "news"},
        {"channels": ["news", 1]},
        {"subs": ["news"]},
        {"subs": {"news": "x"}},
        {"subs": {"news": {"b64info": "!!"}}},
        {"subs": {"news": {"override": {"presence": True}}}},
        {"subs": {"news": {"override": {"presence": {"value": "yes"}}}}},
        {"subs": {"news": {"override": []}}},
        {"b64info": "not base64!"},
        {"b64info": "AAE"},
        {"b64info": 5},
        {"channel": 5},
    ],
)
def test_wrong_claim_types_are_invalid(
    hmac_verifier: TokenVerifier, claims: dict[str, Any]
) -> None:
    with pytest.raises(InvalidToken):
        connect(hmac_verifier, hs(claims))


@pytest.mark.parametrize("payload", [b"[1,2]", b'"sub"', b"null", b"{bad json"])
def test_payload_must_be_a_json_object(hmac_verifier: TokenVerifier, payload: bytes) -> None:
    signing_input = b64url(b'{"alg":"HS256"}') + "." + b64url(payload)
    digest = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidToken, match="payload"):
        connect(hmac_verifier, f"{signing_input}.{b64url(digest)}")


def test_info_too_deep_to_reencode_is_invalid(hmac_verifier: TokenVerifier) -> None:
    payload = b'{"info":' + b"[" * 300 + b"]" * 300 + b"}"
    signing_input = b64url(b'{"alg":"HS256"}') + "." + b64url(payload)
    digest = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidToken, match="info"):
        connect(hmac_verifier, f"{signing_input}.{b64url(digest)}")


def test_user_id_claim_replaces_sub() -> None:
    v = verifier(hmac_secret_key=SECRET, user_id_claim="user_id")
    assert connect(v, hs({"sub": "ignored", "user_id": "u1"})).user == "u1"
    assert connect(v, hs({"user_id": 17})).user == "17"
    assert connect(v, hs({"sub": "ignored"})).user == ""
    assert subscribe(v, hs({"user_id": "u1", "channel": "c"})).user == "u1"
    with pytest.raises(InvalidToken, match="user_id"):
        connect(v, hs({"user_id": {"id": 1}}))


# ---------------------------------------------------------------------------
# Subscription token claims


def test_subscription_token_claims(hmac_verifier: TokenVerifier) -> None:
    claims = {
        "sub": "42",
        "channel": "$private",
        "client": "c-1",
        "exp": int(NOW) + 60,
        "info": {"role": "reader"},
        "data": {"hello": "world"},
        "override": {"presence": {"value": True}, "force_positioning": {"value": False}},
    }
    token = subscribe(hmac_verifier, hs(claims))
    assert token == SubscriptionToken(
        user="42",
        channel="$private",
        client="c-1",
        expire_at=int(NOW) + 60,
        info=b'{"role":"reader"}',
        data=b'{"hello":"world"}',
        override=SubscriptionOverride(presence=True, force_positioning=False),
    )


def test_subscription_token_binary_fields(hmac_verifier: TokenVerifier) -> None:
    claims = {
        "channel": "c",
        "info": {"x": 1},
        "b64info": base64.b64encode(b"\x01").decode(),
        "data": {"y": 2},
        "b64data": base64.b64encode(b"\x02").decode(),
    }
    token = subscribe(hmac_verifier, hs(claims))
    assert (token.user, token.client, token.info, token.data) == ("", "", b"\x01", b"\x02")


@pytest.mark.parametrize("claims", [{"sub": "42"}, {"sub": "42", "channel": ""}])
def test_subscription_token_needs_channel(
    hmac_verifier: TokenVerifier, claims: dict[str, Any]
) -> None:
    with pytest.raises(InvalidToken, match="channel"):
        subscribe(hmac_verifier, hs(claims))


def test_expired_subscription_token(hmac_verifier: TokenVerifier) -> None:
    with pytest.raises(TokenExpired):
        subscribe(hmac_verifier, hs({"channel": "c", "exp": int(NOW)}))


@pytest.mark.parametrize(
    "claims",
    [
        {"channel": 1},
        {"channel": "c", "client": 1},
        {"channel": "c", "override": {"join_leave": {"value": 1}}},
        {"channel": "c", "b64data": "%%%"},
        {"channel": "c", "jti": []},
    ],
)
def test_subscription_token_wrong_types(
    hmac_verifier: TokenVerifier, claims: dict[str, Any]
) -> None:
    with pytest.raises(InvalidToken):
        subscribe(hmac_verifier, hs(claims))


# ---------------------------------------------------------------------------
# Insecure mode


def test_insecure_skip_signature_still_checks_claims() -> None:
    v = verifier(insecure_skip_signature=True)
    assert connect(v, hs({"sub": "42"}, secret=OTHER_SECRET)).user == "42"
    with pytest.raises(TokenExpired):
        connect(v, hs({"sub": "42", "exp": 1}))
    with pytest.raises(InvalidToken):
        connect(v, hs({"sub": "42", "channel": "c"}))


# ---------------------------------------------------------------------------
# Settings


@pytest.mark.parametrize(
    ("settings_", "key"),
    [
        ({"rsa_public_key": "not a pem"}, "client.token.rsa_public_key"),
        ({"ecdsa_public_key": "-----BEGIN PUBLIC KEY-----\nxx\n"}, "client.token.ecdsa_public_key"),
        ({"audience": "a", "audience_regex": "a"}, "client.token.audience_regex"),
        ({"issuer": "a", "issuer_regex": "a"}, "client.token.issuer_regex"),
        ({"audience_regex": "("}, "client.token.audience_regex"),
        ({"issuer_regex": "[a"}, "client.token.issuer_regex"),
        ({"user_id_claim": "user.id"}, "client.token.user_id_claim"),
        ({"jwks_public_endpoint": "ftp://x"}, "client.token.jwks_public_endpoint"),
        ({"jwks_public_endpoint": "https://x/{{tenant}}"}, "client.token.jwks_public_endpoint"),
        (
            {"jwks_public_endpoint": "https://x/{{tenant}}", "issuer_regex": "(?P<tenant>.+)"},
            "client.token.jwks_public_endpoint",
        ),
    ],
)
def test_invalid_settings_raise_config_error(settings_: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        TokenVerifier(TokenSettings(**settings_))
    assert any(problem.startswith(key + ":") for problem in info.value.problems)


def test_key_of_the_wrong_type_is_a_config_error(
    rsa_key: rsa.RSAPrivateKey, ec_keys: dict[str, ec.EllipticCurvePrivateKey]
) -> None:
    with pytest.raises(ConfigError) as info:
        TokenVerifier(
            TokenSettings(
                rsa_public_key=pem_public(ec_keys["ES256"]),
                ecdsa_public_key=pem_public(rsa_key),
            ),
            config_path="client.subscription_token",
        )
    assert info.value.problems == [
        "client.subscription_token.rsa_public_key: not an RSA public key",
        "client.subscription_token.ecdsa_public_key: not an ECDSA public key",
    ]


# ---------------------------------------------------------------------------
# JWKS


class FakeJwks:
    """A JWKS endpoint in memory that counts fetches."""

    url = "https://auth.example.com/.well-known/jwks.json"

    def __init__(self, keys: list[Any]) -> None:
        self.keys = keys
        self.fetches = 0
        self.fail: Exception | None = None
        self.gate: asyncio.Event | None = None

    async def __call__(self, url: str) -> bytes:
        assert url == self.url
        self.fetches += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return orjson.dumps({"keys": self.keys})

    def verifier(self, **kwargs: Any) -> TokenVerifier:
        return TokenVerifier(
            TokenSettings(jwks_public_endpoint=self.url), http_fetch=self, **kwargs
        )


def rsa_jwk(key: rsa.RSAPrivateKey, kid: str, **extra: Any) -> dict[str, Any]:
    return {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, **extra}


def ec_jwk(key: ec.EllipticCurvePrivateKey, kid: str, **extra: Any) -> dict[str, Any]:
    return {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, **extra}


def signed(key: Any, algorithm: str, kid: str | None, claims: dict[str, Any] | None = None) -> str:
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims or {"sub": "42"}, key, algorithm=algorithm, headers=headers)


async def test_jwks_rsa_and_ec_keys_are_cached(
    rsa_key: rsa.RSAPrivateKey, ec_keys: dict[str, ec.EllipticCurvePrivateKey]
) -> None:
    fake = FakeJwks([rsa_jwk(rsa_key, "r1", use="sig"), ec_jwk(ec_keys["ES384"], "e1")])
    v = fake.verifier()
    assert v.uses_jwks
    for algorithm in ("RS256", "RS512"):
        token = signed(rsa_key, algorithm, "r1")
        assert (await v.verify_connection_token(token, now=NOW)).user == "42"
    token = signed(ec_keys["ES384"], "ES384", "e1", {"sub": "7", "channel": "c"})
    assert (await v.verify_subscription_token(token, now=NOW + 1)).user == "7"
    assert fake.fetches == 1


async def test_jwks_unknown_kid_triggers_refresh(rsa_key: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fake = FakeJwks([rsa_jwk(rsa_key, "old")])
    v = fake.verifier()
    await v.verify_connection_token(signed(rsa_key, "RS256", "old"), now=NOW)
    fake.keys = [rsa_jwk(other, "new")]  # rotation
    token = signed(other, "RS256", "new")
    assert (await v.verify_connection_token(token, now=NOW + 11)).user == "42"
    assert fake.fetches == 2
    # The refreshed set replaced the old one: the removed key no longer verifies.
    with pytest.raises(InvalidToken, match="unknown JWKS key id"):
        await v.verify_connection_token(signed(rsa_key, "RS256", "old"), now=NOW + 30)


async def test_jwks_refresh_is_rate_limited(rsa_key: rsa.RSAPrivateKey) -> None:
    fake = FakeJwks([rsa_jwk(rsa_key, "k1")])
    v = fake.verifier()
    for i in range(20):
        token = signed(rsa_key, "RS256", f"unknown-{i}")
        with pytest.raises(InvalidToken, match="unknown JWKS key id"):
            await v.verify_connection_token(token, now=NOW + i * 0.4)
    assert fake.fetches == 1
    with pytest.raises(InvalidToken):
        await v.verify_connection_token(signed(rsa_key, "RS256", "x"), now=NOW + 10)
    assert fake.fetches == 2


async def test_jwks_concurrent_callers_share_one_fetch(rsa_key: rsa.RSAPrivateKey) -> None:
    fake = FakeJwks([rsa_jwk(rsa_key, "k1")])
    fake.gate = asyncio.Event()
    v = fake.verifier()
    token = signed(rsa_key, "RS256", "k1")
    tasks = [
        asyncio.ensure_future(v.verify_connection_token(token, now=NOW + i * 0.001))
        for i in range(10)
    ]
    await asyncio.sleep(0)
    fake.gate.set()
    results = await asyncio.gather(*tasks)
    assert {result.user for result in results} == {"42"}
    assert fake.fetches == 1


async def test_jwks_cache_ttl_forces_refetch(rsa_key: rsa.RSAPrivateKey) -> None:
    fake = FakeJwks([rsa_jwk(rsa_key, "k1")])
    v = fake.verifier(jwks_cache_ttl=60)
    token = signed(rsa_key, "RS256", "k1")
    await v.verify_connection_token(token, now=NOW)
    await v.verify_connection_token(token, now=NOW + 59)
    assert fake.fetches == 1
    await v.verify_connection_token(token, now=NOW + 60)
    assert fake.fetches == 2


async def test_jwks_failed_refresh_keeps_the_previous_set(rsa_key: rsa.RSAPrivateKey) -> None:
    fake = FakeJwks([rsa_jwk(rsa_key, "k1")])
    v = fake.verifier(jwks_cache_ttl=60)
    token = signed(rsa_key, "RS256", "k1")
    await v.verify_connection_token(token, now=NOW)
    fake.fail = OSError("connection refused")
    assert (await v.verify_connection_token(token, now=NOW + 100)).user == "42"
    assert fake.fetches == 2


@pytest.mark.parametrize(
    "failure",
    [OSError("refused"), TimeoutError(), ValueError("bad"), None],
)
async def test_jwks_fetch_failure_is_invalid_token(
    rsa_key: rsa.RSAPrivateKey, failure: Exception | None
) -> None:
    fake = FakeJwks([rsa_jwk(rsa_key, "k1")])
    fake.fail = failure
    v = fake.verifier()
    if failure is None:

        async def garbage(url: str) -> bytes:
            return b"<html>"

        v = TokenVerifier(TokenSettings(jwks_public_endpoint=fake.url), http_fetch=garbage)
    with pytest.raises(InvalidToken, match="could not fetch JWKS") as info:
        await v.verify_connection_token(signed(rsa_key, "RS256", "k1"), now=NOW)
    assert info.value.__cause__ is not None


async def test_jwks_fetch_timeout(rsa_key: rsa.RSAPrivateKey) -> None:
    fake = FakeJwks([rsa_jwk(rsa_key, "k1")])
    fake.gate = asyncio.Event()  # never set: the fetch hangs
    v = fake.verifier(jwks_timeout=0.01)
    with pytest.raises(InvalidToken, match="could not fetch JWKS") as info:
        await v.verify_connection_token(signed(rsa_key, "RS256", "k1"), now=NOW)
    assert isinstance(info.value.__cause__, TimeoutError)


async def test_jwks_requires_kid(rsa_key: rsa.RSAPrivateKey) -> None:
    fake = FakeJwks([rsa_jwk(rsa_key, "k1")])
    with pytest.raises(InvalidToken, match="kid"):
        await fake.verifier().verify_connection_token(signed(rsa_key, "RS256", None), now=NOW)
    assert fake.fetches == 0


async def test_jwks_key_bound_to_its_algorithm(
    rsa_key: rsa.RSAPrivateKey, ec_keys: dict[str, ec.EllipticCurvePrivateKey]
) -> None:
    fake = FakeJwks([rsa_jwk(rsa_key, "pinned", alg="RS256"), ec_jwk(ec_keys["ES256"], "ec")])
    v = fake.verifier()
    with pytest.raises(InvalidToken, match="RS512"):
        await v.verify_connection_token(signed(rsa_key, "RS512", "pinned"), now=NOW)
    # HS256 signed with the RSA JWK's modulus or with anything else: never HMAC via JWKS.
    forged = forge({"alg": "HS256", "kid": "pinned"}, {"sub": "admin"}, b"n")
    with pytest.raises(InvalidToken):
        await v.verify_connection_token(forged, now=NOW)
    with pytest.raises(InvalidToken, match="ES384"):
        await v.verify_connection_token(signed(ec_keys["ES384"], "ES384", "ec"), now=NOW)


async def test_jwks_ignores_unusable_keys(rsa_key: rsa.RSAPrivateKey) -> None:
    fake = FakeJwks(
        [
            rsa_jwk(rsa_key, "enc", use="enc"),
            {"kty": "oct", "kid": "sym", "k": b64url(SECRET.encode())},
            {"kty": "RSA", "kid": "broken"},
            "not a key",
            rsa_jwk(rsa_key, ""),
            rsa_jwk(rsa_key, "good"),
        ]
    )
    v = fake.verifier()
    assert (await v.verify_connection_token(signed(rsa_key, "RS256", "good"), now=NOW)).user
    for kid in ("enc", "sym", "broken"):
        with pytest.raises(InvalidToken, match="unknown JWKS key id"):
            await v.verify_connection_token(signed(rsa_key, "RS256", kid), now=NOW)
    with pytest.raises(InvalidToken):
        forged = jwt.encode({"sub": "1"}, SECRET, algorithm="HS256", headers={"kid": "sym"})
        await v.verify_connection_token(forged, now=NOW)


async def test_jwks_eddsa_key() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    jwk = {**OKPAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "ed"}
    v = FakeJwks([jwk]).verifier()
    token = jwt.encode({"sub": "ed-user"}, key, algorithm="EdDSA", headers={"kid": "ed"})
    assert (await v.verify_connection_token(token, now=NOW)).user == "ed-user"


def test_sync_verification_with_jwks_is_a_programming_error(rsa_key: rsa.RSAPrivateKey) -> None:
    v = FakeJwks([rsa_jwk(rsa_key, "k1")]).verifier()
    with pytest.raises(InvalidState):
        v.verify_connection_token_sync(signed(rsa_key, "RS256", "k1"), now=NOW)
    with pytest.raises(InvalidState):
        v.verify_subscription_token_sync(signed(rsa_key, "RS256", "k1"), now=NOW)


async def test_async_verification_without_jwks(hmac_verifier: TokenVerifier) -> None:
    assert not hmac_verifier.uses_jwks
    token = await hmac_verifier.verify_connection_token(hs({"sub": "1"}), now=NOW)
    assert token.user == "1"
    sub = await hmac_verifier.verify_subscription_token(hs({"channel": "c"}), now=NOW)
    assert sub.channel == "c"


async def test_insecure_skip_signature_does_not_fetch_jwks(rsa_key: rsa.RSAPrivateKey) -> None:
    fake = FakeJwks([])
    v = fake.verifier(insecure_skip_signature=True)
    assert not v.uses_jwks
    token = signed(rsa_key, "RS256", "whatever")
    assert (await v.verify_connection_token(token, now=NOW)).user == "42"
    assert v.verify_connection_token_sync(token, now=NOW).user == "42"
    assert fake.fetches == 0


# ---------------------------------------------------------------------------
# Garbage never escapes as anything but TokenError


GARBAGE = [
    "",
    ".",
    "..",
    "...",
    "a.b.c",
    "a.b",
    "abc",
    "eyJhbGciOiJIUzI1NiJ9",
    "eyJhbGciOiJIUzI1NiJ9..",
    "eyJhbGciOiJIUzI1NiJ9.e30.",
    "eyJhbGciOiJIUzI1NiJ9.e30.!!!!",
    b64url(b"[]") + ".e30.",
    b64url(b'{"alg":1}') + ".e30.",
    b64url(b'{"alg":"HS256","kid":5}') + ".e30.",
    b64url(b'{"alg":"HS256","crit":["exp"]}') + ".e30.",
    b64url(b'{"alg":"HS256","b64":false,"crit":["b64"]}') + "..",
    b64url(b"\xff\xfe") + ".e30.",
    "é.é.é",
    "\x00.\x00.\x00",
    "\ud800.\udfff.x",
    b64url(b'{"alg":"HS256"}') + "." + b64url(b"[" * 5000) + ".",
]


@pytest.mark.parametrize("token", GARBAGE)
def test_garbage_tokens_are_invalid(hmac_verifier: TokenVerifier, token: str) -> None:
    with pytest.raises(InvalidToken):
        connect(hmac_verifier, token)
    with pytest.raises(InvalidToken):
        subscribe(hmac_verifier, token)


def check_only_token_errors(call: Callable[[], object]) -> None:
    with contextlib.suppress(TokenError):
        call()


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_random_text_raises_only_token_errors(token: str) -> None:
    v = TokenVerifier(TokenSettings(hmac_secret_key=SECRET))
    check_only_token_errors(lambda: connect(v, token))
    check_only_token_errors(lambda: subscribe(v, token))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-_."), max_size=4))
def test_random_base64url_segments_raise_only_token_errors(parts: list[str]) -> None:
    v = TokenVerifier(TokenSettings(hmac_secret_key=SECRET))
    check_only_token_errors(lambda: connect(v, ".".join(parts)))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
claim_names = st.sampled_from(
    [
        "sub", "exp", "nbf", "iat", "jti", "aud", "iss", "info", "b64info", "channels", "subs",
        "meta", "expire_at", "channel", "client", "data", "b64data", "override",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(claim_names, json_values, max_size=8))
def test_random_signed_claims_raise_only_token_errors(claims: dict[str, Any]) -> None:
    v = TokenVerifier(TokenSettings(hmac_secret_key=SECRET, audience="a", issuer_regex="^i"))
    token = make_token(SECRET, claims)
    check_only_token_errors(lambda: connect(v, token))
    check_only_token_errors(lambda: subscribe(v, token))


# ---------------------------------------------------------------------------
# The compact-form parser agrees with PyJWT's


segments = st.text(alphabet="ABCabcxyz019-_=+/!. é", max_size=12).map(str.encode) | st.binary(
    max_size=12
).map(lambda data: base64.urlsafe_b64encode(data).rstrip(b"=") + b"=" * (len(data) % 3 == 1))


@settings(max_examples=2000, deadline=None)
@given(segments)
def test_segments_decode_exactly_as_pyjwt_decodes_them(segment: bytes) -> None:
    """Same accepted spellings (padding, alphabet, canonical last character), same bytes."""
    try:
        expected: bytes | None = jwt.PyJWS._decode_base64url_segment(segment, "segment")
    except jwt.DecodeError:
        expected = None
    try:
        got: bytes | None = tokens._segment(segment)
    except InvalidToken:
        got = None
    assert got == expected


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
@pytest.mark.parametrize("headers", [None, {"kid": "k1"}, {"typ": "at+jwt", "cty": "x"}])
def test_pyjwt_signed_tokens_parse(algorithm: str, headers: dict[str, str] | None) -> None:
    token = jwt.encode({"sub": "7", "info": {"a": [1]}}, SECRET, algorithm, headers=headers)
    decoded = jwt.PyJWS().decode_complete(token, SECRET, [algorithm])
    parsed = tokens._parse(token)
    assert parsed.algorithm == algorithm
    assert parsed.kid == (headers or {}).get("kid", "")
    assert parsed.payload == decoded["payload"]
    assert parsed.signature == decoded["signature"]
    assert parsed.signing_input == token.rsplit(".", 1)[0].encode()
    assert connect(verifier(hmac_secret_key=SECRET), token).info == b'{"a":[1]}'


def test_padded_segments_are_accepted_as_pyjwt_accepts_them() -> None:
    header, payload, signature = hs({"sub": "42"}).split(".")
    padded = ".".join(part + "=" * (-len(part) % 4) for part in (header, payload, signature))
    assert connect(verifier(hmac_secret_key=SECRET), padded).user == "42"


def test_a_second_spelling_of_the_signature_is_refused() -> None:
    """The last character of an HS256 signature carries 2 unused bits: only zeros pass."""
    header, payload, signature = hs({"sub": "42"}).split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    for other in range(last + 1, last + 4):
        forged = f"{header}.{payload}.{signature[:-1]}{alphabet[other]}"
        with pytest.raises(InvalidToken, match="malformed"):
            connect(verifier(hmac_secret_key=SECRET), forged)


@pytest.mark.parametrize(
    "header", [{"alg": "HS256", "crit": ["exp"], "exp": 1}, {"alg": "HS256", "b64": True}]
)
def test_critical_extensions_are_refused(header: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken, match="critical"):
        connect(verifier(hmac_secret_key=SECRET), forge(header, {"sub": "1"}, SECRET.encode()))


# ---------------------------------------------------------------------------
# JWKS URL templates


TEMPLATE = "https://{{realm}}.auth.example.com/{{tenant}}/jwks.json"


class TenantJwks:
    """JWKS endpoints in memory, one key set per URL."""

    def __init__(self, sets: dict[str, list[Any]]) -> None:
        self.sets = sets
        self.fetched: list[str] = []

    async def __call__(self, url: str) -> bytes:
        self.fetched.append(url)
        if url not in self.sets:
            raise aiohttp.ClientResponseError(None, (), status=404)  # type: ignore[arg-type]
        return orjson.dumps({"keys": self.sets[url]})


def template_verifier(fetch: TenantJwks, **settings_: Any) -> TokenVerifier:
    settings_ = {
        "jwks_public_endpoint": TEMPLATE,
        "issuer_regex": r"^https://login\.example\.com/(?P<tenant>acme|globex)$",
        "audience_regex": r"^(?P<realm>eu|us)-app$",
        **settings_,
    }
    return TokenVerifier(TokenSettings(**settings_), http_fetch=fetch)


async def test_jwks_url_template_is_filled_from_issuer_and_audience(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    """Centrifugo's templated JWKS endpoint: each tenant's tokens are verified with the
    keys of that tenant's URL, and a key set never serves another URL's tokens."""
    globex_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fetch = TenantJwks(
        {
            "https://eu.auth.example.com/acme/jwks.json": [rsa_jwk(rsa_key, "k1")],
            "https://us.auth.example.com/globex/jwks.json": [rsa_jwk(globex_key, "k1")],
        }
    )
    v = template_verifier(fetch)
    acme = {"sub": "1", "iss": "https://login.example.com/acme", "aud": ["x", "eu-app"]}
    globex = {"sub": "2", "iss": "https://login.example.com/globex", "aud": "us-app"}
    assert (
        await v.verify_connection_token(signed(rsa_key, "RS256", "k1", acme), now=NOW)
    ).user == "1"
    token = signed(globex_key, "RS256", "k1", globex)
    assert (await v.verify_connection_token(token, now=NOW)).user == "2"
    # The same kid, signed with acme's key but claiming globex: globex's keys refuse it.
    forged = signed(rsa_key, "RS256", "k1", globex)
    with pytest.raises(InvalidToken, match="signature verification failed"):
        await v.verify_connection_token(forged, now=NOW)
    assert fetch.fetched == [
        "https://eu.auth.example.com/acme/jwks.json",
        "https://us.auth.example.com/globex/jwks.json",
    ]


async def test_jwks_url_template_needs_matching_claims(rsa_key: rsa.RSAPrivateKey) -> None:
    fetch = TenantJwks({})
    v = template_verifier(fetch)
    wrong_issuer = {"sub": "1", "iss": "https://login.example.com/evil", "aud": "eu-app"}
    with pytest.raises(InvalidToken, match="issuer regex"):
        await v.verify_connection_token(signed(rsa_key, "RS256", "k1", wrong_issuer), now=NOW)
    wrong_audience = {"sub": "1", "iss": "https://login.example.com/acme", "aud": "eu"}
    with pytest.raises(InvalidToken, match="audience regex"):
        await v.verify_connection_token(signed(rsa_key, "RS256", "k1", wrong_audience), now=NOW)
    assert fetch.fetched == []  # nothing fetched for a token that names no allowed tenant


async def test_insecure_template_values_are_percent_encoded(
    rsa_key: rsa.RSAPrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    """With the safety check off, a claim can put anything in the URL; it stays inside
    its path segment (defence in depth, like Centrifugo's path cleaning)."""
    fetch = TenantJwks({})
    with caplog.at_level(logging.WARNING, logger="whirlwind.auth"):
        v = TokenVerifier(
            TokenSettings(
                jwks_public_endpoint="https://auth.example.com/{{tenant}}/jwks.json",
                issuer_regex="^(?P<tenant>.+)$",
                insecure_skip_jwks_endpoint_safety_check=True,
            ),
            http_fetch=fetch,
        )
    assert "insecure_skip_jwks_endpoint_safety_check is on" in caplog.text
    claims = {"sub": "1", "iss": "../../evil.example/x?y#"}
    with pytest.raises(InvalidToken, match="could not fetch JWKS"):
        await v.verify_connection_token(signed(rsa_key, "RS256", "k1", claims), now=NOW)
    assert fetch.fetched == ["https://auth.example.com/..%2F..%2Fevil.example%2Fx%3Fy%23/jwks.json"]


@pytest.mark.parametrize(
    ("regex", "safe"),
    [
        ("^(?P<tenant>acme|globex)$", True),
        ("^(?P<tenant>acme)$", True),
        (r"^(?P<tenant>acme\.eu|globex-us)$", True),
        ("^(?P<tenant>.+)$", False),
        ("^(?P<tenant>[a-z]+)$", False),
        (r"^(?P<tenant>\w+)$", False),
        ("^(?P<tenant>acme|glo*bex)$", False),
        ("^(?P<tenant>(?:acme|globex)+)$", False),
        ("^(?P<tenant>acme|)$", False),
        ("^(?P<other>.+)/(?P<tenant>acme)$", True),  # only the groups used in the URL count
        (r"^\(?P<tenant>.+\)$", None),  # escaped parentheses: no such group
    ],
)
def test_template_groups_must_be_lists_of_fixed_values(regex: str, safe: bool | None) -> None:
    settings_ = TokenSettings(jwks_public_endpoint="https://x/{{tenant}}", issuer_regex=regex)
    if safe:
        TokenVerifier(settings_)
        return
    with pytest.raises(ConfigError) as info:
        TokenVerifier(settings_)
    expected = "explicit list of allowed values" if safe is False else "not a named group"
    assert len(info.value.problems) == 1 and expected in info.value.problems[0], info.value


TEMPLATE_GARBAGE = [
    *GARBAGE,
    b64url(b'{"alg":"RS256","kid":"k1"}') + "." + b64url(b"not json") + ".",
    b64url(b'{"alg":"RS256","kid":"k1"}') + "." + b64url(b"[]") + ".",
    b64url(b'{"alg":"RS256","kid":"k1"}') + "." + b64url(b'{"iss":5,"aud":"eu-app"}') + ".",
    b64url(b'{"alg":"RS256","kid":"k1"}') + "." + b64url(b'{"iss":"x","aud":{"a":1}}') + ".",
]


@pytest.mark.parametrize("token", TEMPLATE_GARBAGE)
async def test_garbage_tokens_with_a_url_template_fetch_nothing(token: str) -> None:
    """The template is filled from claims read before the signature check: garbage there
    is an invalid token, and no key set is fetched for it."""
    fetch = TenantJwks({})
    v = template_verifier(fetch)
    with pytest.raises(InvalidToken):
        await v.verify_connection_token(token, now=NOW)
    with pytest.raises(InvalidToken):
        await v.verify_subscription_token(token, now=NOW)
    assert fetch.fetched == []
