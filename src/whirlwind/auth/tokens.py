"""Connection and subscription JWT verification (client-protocol.md §12).

Behaviour follows Centrifugo's ``internal/jwtverify/token_verifier_jwt.go`` and
``internal/jwks/manager.go``; settings are one ``client.token`` or
``client.subscription_token`` section (channels-config.md §5.4).

Rules:

* Keys are built once and bound to one algorithm family. HS256/384/512 verify only with
  ``hmac_secret_key`` (and ``hmac_previous_secret_key`` while ``now <
  hmac_previous_secret_key_valid_until``); RS256/384/512 only with ``rsa_public_key``;
  ES256/384/512 only with ``ecdsa_public_key`` whose curve matches the algorithm (P-256,
  P-384, P-521). An HS token is never checked against a public key used as a secret, and
  ``alg: none`` is always refused, even with ``insecure_skip_signature``.
* With ``jwks_public_endpoint`` set, every token is verified with the JWKS key named by its
  ``kid`` header, as Centrifugo does (the static keys are then unused): RSA keys verify
  RS256/384/512, EC keys the ES algorithm of their curve, OKP Ed25519 keys EdDSA; a JWK's
  own ``alg``, when present, is the only algorithm it verifies. Keys whose ``use`` is not
  ``sig`` are ignored.
* The JWKS document is fetched when a ``kid`` is unknown or the cached set is older than the
  cache TTL, at most once per refresh interval (failed attempts count), and concurrent
  callers wait for the same fetch. A successful fetch replaces the whole set, so a key
  removed from the endpoint stops verifying; a failed one keeps the previous set.
* The JWKS URL may be a template (Centrifugo v6): ``{{name}}`` placeholders take the named
  groups of ``issuer_regex`` and ``audience_regex`` as matched in the token's ``iss`` and
  ``aud``, before the signature is checked. Each placeholder's group must be a list of
  fixed values unless ``insecure_skip_jwks_endpoint_safety_check`` is on; values are
  percent-encoded, and every rendered URL has its own key set and fetch state.
* Checks run in this order: token structure, algorithm, signature, claim types, audience
  and issuer, ``channel`` claim, then time. Time is an argument (``now``, Unix seconds):
  ``exp <= now`` and ``nbf > now`` both raise :class:`TokenExpired`, because Centrifugo
  answers both with ``ErrTokenExpired`` (error 109 makes the SDK fetch a fresh token,
  where an invalid token would end the connection with 3500). Everything else raises
  :class:`InvalidToken`, whose message says what was wrong but never quotes the token or
  a key.
* A JSON ``null`` claim counts as absent. ``info``, ``data`` and ``meta`` are returned as
  compact JSON bytes; ``b64info``/``b64data`` (standard base64 with padding) take
  precedence over them when non-empty.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import re
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import aiohttp
import orjson
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt import PyJWK
from jwt.algorithms import Algorithm, get_default_algorithms
from jwt.exceptions import PyJWTError

from whirlwind.config.schema import TokenSettings
from whirlwind.errors import ConfigError, InvalidState, InvalidToken, TokenExpired

logger = logging.getLogger("whirlwind.auth")

__all__ = [
    "NO_OVERRIDE",
    "ConnectToken",
    "JwksFetch",
    "SubscribeOptions",
    "SubscriptionOverride",
    "SubscriptionToken",
    "TokenSettings",
    "TokenVerifier",
    "make_token",
]

JwksFetch: TypeAlias = Callable[[str], Awaitable[bytes]]
"""An async callable that returns the body of a GET on the JWKS URL."""

_HMAC_ALGORITHMS: Final = frozenset({"HS256", "HS384", "HS512"})
_RSA_ALGORITHMS: Final = frozenset({"RS256", "RS384", "RS512"})
_EC_CURVES: Final[dict[str, type[ec.EllipticCurve]]] = {
    "ES256": ec.SECP256R1,
    "ES384": ec.SECP384R1,
    "ES512": ec.SECP521R1,
}
_EC_ALGORITHMS: Final = frozenset(_EC_CURVES)
_SUPPORTED_ALGORITHMS: Final = (
    _HMAC_ALGORITHMS | _RSA_ALGORITHMS | _EC_ALGORITHMS | frozenset({"EdDSA"})
)
_ALGORITHMS: Final[dict[str, Algorithm]] = {
    name: algorithm
    for name, algorithm in get_default_algorithms().items()
    if name in _SUPPORTED_ALGORITHMS
}
_OVERRIDE_FIELDS: Final = (
    "presence",
    "join_leave",
    "force_push_join_leave",
    "force_recovery",
    "force_positioning",
)
_PRIVATE_KEY_TYPES: Final = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
)
_USER_ID_CLAIM_RE: Final = re.compile(r"^[a-zA-Z_]+$")
_JWKS_MAX_BYTES: Final = 1 << 20
_PLACEHOLDER_RE: Final = re.compile(r"\{\{([^{}]*)\}\}")
_NAMED_GROUP_RE: Final = re.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>")
# One alternative of a fixed-value group: characters that are not regex syntax, or a
# backslash before punctuation (``\.``); no class (``[...]``, ``\d``), group or repetition.
_FIXED_ALTERNATIVE: Final = r"(?:[^\\.^$*+?()\[\]{}|]|\\[^A-Za-z0-9\s])+"
_FIXED_VALUES_RE: Final = re.compile(rf"{_FIXED_ALTERNATIVE}(?:\|{_FIXED_ALTERNATIVE})*")
_MAX_JWKS_SETS: Final = 1000
"""Key sets kept for a templated JWKS URL (reachable only without the safety check)."""
_SEGMENT_RE: Final = re.compile(rb"[A-Za-z0-9_-]*={0,2}")
_FROM_URLSAFE: Final = bytes.maketrans(b"-_", b"+/")
_TO_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")
# Signatures are checked with prebuilt keys so that no key is ever prepared from
# attacker-chosen input; HMAC with the standard library's one-shot digest, which is
# what PyJWT's HMACAlgorithm does through a slower HMAC object.
_HMAC_HASHES: Final = {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}


# ---------------------------------------------------------------------------
# Settings and results


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionOverride:
    """Per-subscription overrides of channel options; ``None`` keeps the channel's value."""

    presence: bool | None = None
    join_leave: bool | None = None
    force_push_join_leave: bool | None = None
    force_recovery: bool | None = None
    force_positioning: bool | None = None


NO_OVERRIDE: Final = SubscriptionOverride()
"""The override that keeps every channel option (frozen, so one instance serves all)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeOptions:
    """Options of one server-side subscription from a connection token's ``subs`` claim."""

    info: bytes = b""
    """Channel info (``ClientInfo.chan_info``), from ``b64info`` or ``info``."""
    data: bytes = b""
    """Data for the subscribe push, from ``b64data`` or ``data``."""
    override: SubscriptionOverride = NO_OVERRIDE


@dataclass(slots=True, kw_only=True, init=False)
class ConnectToken:
    """A verified connection token (§12.1).

    Centrifugo subscribes the connection to ``subs`` when it is non-empty and to
    ``channels`` otherwise: ``channels`` is ignored whenever ``subs`` is present.

    Immutable: ``Final`` fields and a written ``__init__``, which mypyc compiles (one is
    built per connection; see protocol/messages.py).
    """

    user: Final[str]
    """User ID from ``sub`` (or ``user_id_claim``); empty means anonymous."""
    expire_at: Final[int | None]
    """Connection expiry (Unix seconds) from ``expire_at``, else ``exp``; ``None`` = never."""
    info: Final[bytes]
    """Connection info (``ClientInfo.conn_info``), from ``b64info`` or ``info``."""
    channels: Final[tuple[str, ...]]
    """Server-side subscriptions from the ``channels`` claim."""
    subs: Final[dict[str, SubscribeOptions]]
    """Server-side subscriptions with options from the ``subs`` claim."""
    meta: Final[bytes]
    """Server-only metadata from ``meta`` (compact JSON); never sent to clients."""
    issued_at: Final[int | None]
    """``iat``, when present."""
    token_id: Final[str]
    """``jti``, when present."""

    def __init__(
        self,
        *,
        user: str,
        expire_at: int | None = None,
        info: bytes = b"",
        channels: tuple[str, ...] = (),
        subs: dict[str, SubscribeOptions] | None = None,
        meta: bytes = b"",
        issued_at: int | None = None,
        token_id: str = "",
    ) -> None:
        self.user = user
        self.expire_at = expire_at
        self.info = info
        self.channels = channels
        self.subs = {} if subs is None else subs
        self.meta = meta
        self.issued_at = issued_at
        self.token_id = token_id


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionToken:
    """A verified subscription token (§12.2); the caller compares ``channel``, ``user``
    and ``client`` with the subscribe request and the connection."""

    user: str
    """User ID from ``sub`` (or ``user_id_claim``)."""
    channel: str
    """The ``channel`` claim, never empty."""
    client: str = ""
    """The ``client`` claim; empty when absent."""
    expire_at: int | None = None
    """Subscription expiry (Unix seconds) from ``expire_at``, else ``exp``; ``None`` = never."""
    info: bytes = b""
    """Channel info (``ClientInfo.chan_info``), from ``b64info`` or ``info``."""
    data: bytes = b""
    """Data for ``SubscribeResult.data``, from ``b64data`` or ``data``."""
    override: SubscriptionOverride = NO_OVERRIDE


# ---------------------------------------------------------------------------
# Keys


@dataclass(frozen=True, slots=True)
class _Key:
    """Prepared key material and the only algorithms it may verify."""

    key: Any  # bytes for HMAC, else a cryptography public key
    algorithms: frozenset[str]
    description: str


@dataclass(slots=True, init=False)
class _ParsedToken:
    """The compact form split and decoded, before any check (written ``__init__``: see
    ``ConnectToken``)."""

    algorithm: Final[str]
    kid: Final[str]
    signing_input: Final[bytes]
    signature: Final[bytes]
    payload: Final[bytes]

    def __init__(
        self, algorithm: str, kid: str, signing_input: bytes, signature: bytes, payload: bytes
    ) -> None:
        self.algorithm = algorithm
        self.kid = kid
        self.signing_input = signing_input
        self.signature = signature
        self.payload = payload


def _load_public_key(pem: str) -> object:
    """Load a PEM public key or the public key of a PEM certificate."""
    data = pem.encode()
    try:
        return load_pem_public_key(data)
    except ValueError:
        return x509.load_pem_x509_certificate(data).public_key()


def _ec_algorithms(key: ec.EllipticCurvePublicKey) -> frozenset[str]:
    return frozenset(name for name, curve in _EC_CURVES.items() if isinstance(key.curve, curve))


def _key_from_jwk(data: dict[str, object]) -> _Key | None:
    """Build a key from one JWK, or ``None`` when it cannot verify any accepted algorithm."""
    use = data.get("use")
    if use is not None and use != "sig":
        return None
    if data.get("kty") not in ("RSA", "EC", "OKP"):
        return None  # symmetric ("oct") keys are never taken from a JWKS endpoint
    try:
        jwk = PyJWK(data)
    except (PyJWTError, ValueError, TypeError, KeyError):
        return None
    key = jwk.key
    if isinstance(key, rsa.RSAPublicKey):
        algorithms = _RSA_ALGORITHMS
    elif isinstance(key, ec.EllipticCurvePublicKey):
        algorithms = _ec_algorithms(key)
    elif isinstance(key, ed25519.Ed25519PublicKey):
        algorithms = frozenset({"EdDSA"})
    else:
        return None  # a private key or an unsupported type
    declared = data.get("alg")
    if declared is not None:
        algorithms = algorithms & {declared}
    if not algorithms:
        return None
    return _Key(key, algorithms, "JWKS key")


class _JwksSet:
    """The keys fetched from one JWKS URL, and when and how the last fetch went."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.keys: dict[str, _Key] = {}
        self.fetched_at: float | None = None
        self.attempted_at: float | None = None
        self.attempts = 0
        self.error: Exception | None = None
        self.lock = asyncio.Lock()


def _named_groups(pattern: str) -> dict[str, str | None]:
    """The source of each named group's body in ``pattern``, by name (None: unclosed)."""
    groups: dict[str, str | None] = {}
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        match = _NAMED_GROUP_RE.match(pattern, i)
        if match is not None:
            groups.setdefault(match.group(1), _group_body(pattern, match.end()))
        i += 1
    return groups


def _group_body(pattern: str, start: int) -> str | None:
    """The source from ``pattern[start]`` up to the parenthesis closing the group that
    starts there; None when it never closes."""
    depth = 0
    i = start
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                return pattern[start:i]
            depth -= 1
        i += 1
    return None


def _template_problems(template: str, regexes: dict[str, str], *, check_safety: bool) -> list[str]:
    """What is wrong with a JWKS URL template (``{{name}}`` placeholders).

    Every placeholder must be a named group of ``issuer_regex`` or ``audience_regex``.
    The values come from claims read before the signature is checked, so, as Centrifugo
    v6.6.6 requires (``internal/jwtverify/validate.go``), each such group must be a list
    of fixed values (``(?P<tenant>acme|globex)``): otherwise a forged token could send the
    key fetch to a server its author controls. Ours is the stricter, textual form of that
    check: no character class, group, repetition or wildcard inside the group.
    """
    problems = []
    bodies: dict[str, tuple[str, str | None]] = {}
    for key, pattern in regexes.items():
        try:
            names = re.compile(pattern).groupindex if pattern else {}
        except re.error:
            continue  # reported with the regex's own key
        for name, body in _named_groups(pattern).items():
            if name in names:
                bodies.setdefault(name, (key, body))
    for name in dict.fromkeys(_PLACEHOLDER_RE.findall(template)):
        if name not in bodies:
            problems.append(
                f"placeholder {{{{{name}}}}} is not a named group of issuer_regex or audience_regex"
            )
            continue
        key, body = bodies[name]
        if check_safety and (body is None or _FIXED_VALUES_RE.fullmatch(body) is None):
            problems.append(
                f"{key} named group {name!r} is used in the URL template: it must be an "
                "explicit list of allowed values (e.g. value1|value2|value3); "
                "insecure_skip_jwks_endpoint_safety_check turns this check off"
            )
    return problems


def _parse_jwks(body: bytes) -> dict[str, _Key]:
    """Parse a JWKS document into keys by ``kid``; unusable keys are skipped.

    Raises:
        ValueError: the document is not a JSON object with a ``keys`` array.
    """
    document = orjson.loads(body)
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("JWKS document has no 'keys' array")
    keys: dict[str, _Key] = {}
    for item in document["keys"]:
        if not isinstance(item, dict):
            continue
        kid = item.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        key = _key_from_jwk(item)
        if key is not None:
            keys[kid] = key
    return keys


async def _aiohttp_fetch(url: str) -> bytes:
    """GET ``url`` with aiohttp and return the body (at most 1 MiB)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, raise_for_status=True) as response,
    ):
        body = bytearray()
        async for chunk in response.content.iter_chunked(65536):
            body += chunk
            if len(body) > _JWKS_MAX_BYTES:
                raise ValueError("JWKS document larger than 1 MiB")
        return bytes(body)


# ---------------------------------------------------------------------------
# Claims


def _segment(segment: bytes) -> bytes:
    """Decode one base64url segment as strictly as PyJWT 2.15 does.

    Only the URL-safe alphabet, at most two ``=`` of padding and only when they complete
    a quantum, a length that can encode whole bytes, and the canonical encoding (no stray
    bits in the last character, so a signature has exactly one spelling:
    GHSA-hxm8-2xgr-2p9m).
    """
    if _SEGMENT_RE.fullmatch(segment) is None:
        raise InvalidToken("malformed token")
    stripped = segment.rstrip(b"=")
    if len(stripped) % 4 == 1 or (len(stripped) != len(segment) and len(segment) % 4):
        raise InvalidToken("malformed token")
    # binascii directly: base64's url-safe wrappers are four Python calls a segment.
    # The checks above leave nothing binascii could refuse.
    decoded = binascii.a2b_base64(stripped.translate(_FROM_URLSAFE) + b"=" * (-len(stripped) % 4))
    if _b64url(decoded) != stripped:
        raise InvalidToken("malformed token")
    return decoded


def _parse(token: str) -> _ParsedToken:
    """Split and decode the compact form and check the header's algorithm.

    PyJWS.decode_complete did this until PyJWT 2.15 began checking each character of a
    segment in a Python generator: 28 % of the Python a connect costs
    (docs/performance.md). The rules are its rules (tests/unit/auth/test_tokens.py holds
    the segment decoder to PyJWT's), except that a ``crit`` or ``b64`` header is refused
    outright: no extension is understood here (RFC 7515 §4.1.11), where PyJWT understood
    ``b64`` only to verify a detached payload (RFC 7797), which a Centrifugo token never
    has.
    """
    try:
        raw = token.encode()
    except UnicodeEncodeError as exc:
        raise InvalidToken("malformed token") from exc
    parts = raw.split(b".")
    if len(parts) != 3:
        raise InvalidToken("malformed token")
    header_segment, payload_segment, signature_segment = parts
    try:
        header = orjson.loads(_segment(header_segment))
    except orjson.JSONDecodeError as json_error:
        raise InvalidToken("malformed token") from json_error
    if not isinstance(header, dict):
        raise InvalidToken("malformed token")
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or not algorithm:
        raise InvalidToken("token header has no algorithm")
    if algorithm.lower() == "none":
        raise InvalidToken("unsigned tokens (alg none) are not accepted")
    if algorithm not in _SUPPORTED_ALGORITHMS:
        raise InvalidToken(f"unsupported token algorithm {algorithm[:16]!r}")
    kid = header.get("kid", "")
    if not isinstance(kid, str):
        raise InvalidToken("token header kid must be a string")
    if "crit" in header or "b64" in header:
        raise InvalidToken("token header has critical extensions, none is supported")
    payload = _segment(payload_segment)
    signature = _segment(signature_segment)
    signing_input = raw[: len(header_segment) + 1 + len(payload_segment)]
    return _ParsedToken(algorithm, kid, signing_input, signature, payload)


def _load_claims(payload: bytes) -> dict[str, object]:
    try:
        claims = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidToken("token payload is not valid JSON") from exc
    if not isinstance(claims, dict):
        raise InvalidToken("token payload is not a JSON object")
    return claims


def _string(claims: dict[str, object], name: str, where: str = "") -> str:
    value = claims.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidToken(f"claim '{where}{name}' must be a string")
    return value


def _numeric_date(claims: dict[str, object], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"claim {name!r} must be a number")
    return value


def _json_bytes(claims: dict[str, object], name: str, where: str = "") -> bytes:
    value = claims.get(name)
    if value is None:
        return b""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        raise InvalidToken(f"claim '{where}{name}' cannot be re-encoded as JSON") from exc


def _binary(claims: dict[str, object], json_name: str, b64_name: str, where: str = "") -> bytes:
    """``b64_name`` decoded when non-empty, else ``json_name`` as compact JSON."""
    encoded = _string(claims, b64_name, where)
    if encoded:
        try:
            return base64.b64decode(encoded, validate=True)
        except ValueError as exc:  # binascii.Error, or non-ASCII text
            raise InvalidToken(f"claim '{where}{b64_name}' is not valid base64") from exc
    return _json_bytes(claims, json_name, where)


def _override(value: object, where: str = "") -> SubscriptionOverride:
    if value is None:
        return NO_OVERRIDE
    if not isinstance(value, dict):
        raise InvalidToken(f"claim '{where}override' must be an object")
    flags: dict[str, bool] = {}
    for name in _OVERRIDE_FIELDS:
        item = value.get(name)
        if item is None:
            continue
        flag = item.get("value", False) if isinstance(item, dict) else None
        if not isinstance(flag, bool):
            raise InvalidToken(f"claim '{where}override.{name}' must be {{\"value\": bool}}")
        flags[name] = flag
    return SubscriptionOverride(**flags)


def _expire_at(claims: dict[str, object], exp: float | None) -> int | None:
    """``expire_at`` when present (``<= 0`` meaning never), else ``exp``."""
    value = claims.get("expire_at")
    if value is None:
        return None if exp is None else int(exp)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidToken("claim 'expire_at' must be an integer")
    return value if value > 0 else None


def _channels(claims: dict[str, object]) -> tuple[str, ...]:
    value = claims.get("channels")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidToken("claim 'channels' must be an array of strings")
    return tuple(value)


def _subs(claims: dict[str, object]) -> dict[str, SubscribeOptions]:
    value = claims.get("subs")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidToken("claim 'subs' must be an object")
    subs: dict[str, SubscribeOptions] = {}
    for channel, options in value.items():
        where = f"subs.{channel[:64]}."
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise InvalidToken(f"claim '{where[:-1]}' must be an object")
        subs[channel] = SubscribeOptions(
            info=_binary(options, "info", "b64info", where),
            data=_binary(options, "data", "b64data", where),
            override=_override(options.get("override"), where),
        )
    return subs


def _audiences(claims: dict[str, object]) -> list[str]:
    value = claims.get("aud")
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise InvalidToken("claim 'aud' must be a string or an array of strings")


# ---------------------------------------------------------------------------
# Verifier


class TokenVerifier:
    """Verifies connection and subscription JWTs with one token section's settings.

    Args:
        settings: the ``client.token`` or ``client.subscription_token`` section.
        insecure_skip_signature: decode without checking signatures
            (``client.insecure_skip_token_signature_verify``); claims are still checked.
        http_fetch: async ``url -> bytes`` used to fetch the JWKS (aiohttp by default).
        config_path: key path of the section, used in configuration problems.
        jwks_refresh_interval: minimum seconds between two JWKS fetches.
        jwks_cache_ttl: seconds after which the cached key set is refetched.
        jwks_timeout: seconds allowed for one JWKS fetch.

    Raises:
        ConfigError: a key, regex or URL in ``settings`` is invalid; ``problems`` lists all.
    """

    def __init__(
        self,
        settings: TokenSettings,
        *,
        insecure_skip_signature: bool = False,
        http_fetch: JwksFetch | None = None,
        config_path: str = "client.token",
        jwks_refresh_interval: float = 10.0,
        jwks_cache_ttl: float = 3600.0,
        jwks_timeout: float = 5.0,
    ) -> None:
        problems: list[str] = []

        def problem(key: str, message: str) -> None:
            problems.append(f"{config_path}.{key}: {message}")

        self._skip_signature = insecure_skip_signature
        self._hmac_key = (
            _Key(settings.hmac_secret_key.encode(), _HMAC_ALGORITHMS, "HMAC secret")
            if settings.hmac_secret_key
            else None
        )
        self._hmac_previous_key = (
            _Key(settings.hmac_previous_secret_key.encode(), _HMAC_ALGORITHMS, "HMAC secret")
            if settings.hmac_previous_secret_key
            else None
        )
        self._hmac_previous_valid_until = settings.hmac_previous_secret_key_valid_until

        self._rsa_key: _Key | None = None
        if settings.rsa_public_key:
            try:
                key = _load_public_key(settings.rsa_public_key)
            except ValueError:
                problem("rsa_public_key", "not a PEM public key or certificate")
            else:
                if isinstance(key, rsa.RSAPublicKey):
                    self._rsa_key = _Key(key, _RSA_ALGORITHMS, "RSA public key")
                else:
                    problem("rsa_public_key", "not an RSA public key")

        self._ec_key: _Key | None = None
        if settings.ecdsa_public_key:
            try:
                key = _load_public_key(settings.ecdsa_public_key)
            except ValueError:
                problem("ecdsa_public_key", "not a PEM public key or certificate")
            else:
                if not isinstance(key, ec.EllipticCurvePublicKey):
                    problem("ecdsa_public_key", "not an ECDSA public key")
                elif not _ec_algorithms(key):
                    problem("ecdsa_public_key", "curve must be P-256, P-384 or P-521")
                else:
                    self._ec_key = _Key(key, _ec_algorithms(key), "ECDSA public key")

        self._jwks_url = settings.jwks_public_endpoint
        if self._jwks_url and not self._jwks_url.startswith(("http://", "https://")):
            problem("jwks_public_endpoint", "must be an http:// or https:// URL")

        if settings.audience and settings.audience_regex:
            problem("audience_regex", "can not be used together with audience")
        if settings.issuer and settings.issuer_regex:
            problem("issuer_regex", "can not be used together with issuer")
        self._audience = settings.audience
        self._issuer = settings.issuer
        self._audience_re = self._compile(settings.audience_regex, "audience_regex", problem)
        self._issuer_re = self._compile(settings.issuer_regex, "issuer_regex", problem)
        self._jwks_templated = bool(_PLACEHOLDER_RE.search(self._jwks_url))
        if self._jwks_templated:
            for message in _template_problems(
                self._jwks_url,
                {"issuer_regex": settings.issuer_regex, "audience_regex": settings.audience_regex},
                check_safety=not settings.insecure_skip_jwks_endpoint_safety_check,
            ):
                problem("jwks_public_endpoint", message)

        self._user_id_claim = settings.user_id_claim
        if self._user_id_claim and not _USER_ID_CLAIM_RE.match(self._user_id_claim):
            problem("user_id_claim", "must match ^[a-zA-Z_]+$")

        if problems:
            raise ConfigError(problems)

        if self._jwks_templated and settings.insecure_skip_jwks_endpoint_safety_check:
            logger.warning(
                "%s.insecure_skip_jwks_endpoint_safety_check is on: the JWKS URL is built "
                "from unverified token claims that the regexes do not limit to fixed values",
                config_path,
            )
        self._http_fetch: JwksFetch = http_fetch or _aiohttp_fetch
        self._jwks_refresh_interval = jwks_refresh_interval
        self._jwks_cache_ttl = jwks_cache_ttl
        self._jwks_timeout = jwks_timeout
        self._jwks_sets: dict[str, _JwksSet] = {}
        """Key sets by URL: one, or one per rendered URL of a template."""

    @staticmethod
    def _compile(
        pattern: str, key: str, problem: Callable[[str, str], None]
    ) -> re.Pattern[str] | None:
        if not pattern:
            return None
        try:
            return re.compile(pattern)
        except re.error as exc:
            problem(key, f"invalid regex: {exc}")
            return None

    @property
    def uses_jwks(self) -> bool:
        """Whether verification needs the async methods (a JWKS endpoint is configured)."""
        return bool(self._jwks_url) and not self._skip_signature

    # -- public API ---------------------------------------------------------

    def verify_connection_token_sync(
        self, token: str, *, now: float, ignore_expiry: bool = False
    ) -> ConnectToken:
        """Verify a connection token without JWKS.

        Args:
            token: the compact JWT.
            now: current Unix time in seconds.
            ignore_expiry: accept an expired token (``client.insecure``).

        Raises:
            TokenExpired: ``exp`` has passed or ``nbf`` is still ahead.
            InvalidToken: anything else is wrong with the token.
            InvalidState: a JWKS endpoint is configured; use the async method.
        """
        parsed = self._parse_sync(token, now)
        return self._connect_token(parsed, now, ignore_expiry)

    async def verify_connection_token(
        self, token: str, *, now: float, ignore_expiry: bool = False
    ) -> ConnectToken:
        """Verify a connection token, fetching JWKS keys if configured.

        Raises:
            TokenExpired: ``exp`` has passed or ``nbf`` is still ahead.
            InvalidToken: anything else is wrong, including a failed JWKS fetch.
        """
        parsed = await self._parse_async(token, now)
        return self._connect_token(parsed, now, ignore_expiry)

    def verify_subscription_token_sync(
        self, token: str, *, now: float, ignore_expiry: bool = False
    ) -> SubscriptionToken:
        """Verify a subscription token without JWKS (see
        :meth:`verify_connection_token_sync` for arguments and errors)."""
        parsed = self._parse_sync(token, now)
        return self._subscription_token(parsed, now, ignore_expiry)

    async def verify_subscription_token(
        self, token: str, *, now: float, ignore_expiry: bool = False
    ) -> SubscriptionToken:
        """Verify a subscription token, fetching JWKS keys if configured (see
        :meth:`verify_connection_token`)."""
        parsed = await self._parse_async(token, now)
        return self._subscription_token(parsed, now, ignore_expiry)

    # -- signature ----------------------------------------------------------

    def _parse_sync(self, token: str, now: float) -> _ParsedToken:
        if self.uses_jwks:
            raise InvalidState("tokens are verified with JWKS: use the async verify methods")
        parsed = _parse(token)
        if not self._skip_signature:
            self._check_signature(parsed, self._static_keys(parsed.algorithm, now))
        return parsed

    async def _parse_async(self, token: str, now: float) -> _ParsedToken:
        parsed = _parse(token)
        if self._skip_signature:
            return parsed
        if self._jwks_url:
            keys = [await self._jwks_key(self._jwks_url_for(parsed), parsed.kid, now)]
        else:
            keys = self._static_keys(parsed.algorithm, now)
        self._check_signature(parsed, keys)
        return parsed

    def _static_keys(self, algorithm: str, now: float) -> list[_Key]:
        if algorithm in _HMAC_ALGORITHMS:
            keys = [self._hmac_key] if self._hmac_key else []
            if self._hmac_previous_key and now < self._hmac_previous_valid_until:
                keys.append(self._hmac_previous_key)
            return keys
        if algorithm in _RSA_ALGORITHMS:
            return [self._rsa_key] if self._rsa_key else []
        if algorithm in _EC_ALGORITHMS:
            return [self._ec_key] if self._ec_key else []
        return []  # EdDSA: JWKS only

    @staticmethod
    def _check_signature(parsed: _ParsedToken, keys: Sequence[_Key]) -> None:
        algorithm = parsed.algorithm
        usable = [key for key in keys if algorithm in key.algorithms]
        if not usable:
            described = {key.description for key in keys}
            if described:
                raise InvalidToken(
                    f"{algorithm} tokens can not be verified with the {', '.join(described)}"
                )
            raise InvalidToken(f"{algorithm} tokens are not accepted: no key configured")
        hash_name = _HMAC_HASHES.get(algorithm)
        verifier = _ALGORITHMS[algorithm]
        for key in usable:
            if hash_name is not None:
                expected = hmac.digest(key.key, parsed.signing_input, hash_name)
                valid = hmac.compare_digest(expected, parsed.signature)
            else:
                valid = verifier.verify(parsed.signing_input, key.key, parsed.signature)
            if valid:
                return
        raise InvalidToken("token signature verification failed")

    # -- JWKS ---------------------------------------------------------------

    def _jwks_url_for(self, parsed: _ParsedToken) -> str:
        """The JWKS URL for this token: the configured one, or its template filled in.

        Placeholder values are the named groups of ``issuer_regex`` (matched against
        ``iss``) and ``audience_regex`` (the first ``aud`` it matches), read before the
        signature is checked, as Centrifugo does; each is percent-encoded.
        """
        if not self._jwks_templated:
            return self._jwks_url
        claims = _load_claims(parsed.payload)
        values = {
            **self._issuer_groups(_string(claims, "iss")),
            **self._audience_groups(_audiences(claims)),
        }
        return _PLACEHOLDER_RE.sub(
            lambda m: urllib.parse.quote(values.get(m.group(1), ""), safe=""), self._jwks_url
        )

    async def _jwks_key(self, url: str, kid: str, now: float) -> _Key:
        if not kid:
            raise InvalidToken("token has no 'kid' header, required to pick a JWKS key")
        jwks = self._jwks_sets.get(url)
        if jwks is None:
            if len(self._jwks_sets) >= _MAX_JWKS_SETS:
                # In practice only without the safety check: forget the oldest URL.
                del self._jwks_sets[next(iter(self._jwks_sets))]
            jwks = self._jwks_sets[url] = _JwksSet(url)
        key = jwks.keys.get(kid)
        stale = jwks.fetched_at is None or now - jwks.fetched_at >= self._jwks_cache_ttl
        if key is not None and not stale:
            return key
        await self._refresh_jwks(jwks, now)
        # After a failed fetch the previous set (even stale) is still used.
        key = jwks.keys.get(kid)
        if key is not None:
            return key
        if jwks.error is not None:
            error = InvalidToken("could not fetch JWKS")
            error.__cause__ = jwks.error  # what `raise ... from` sets; kept compiled
            raise error
        raise InvalidToken(f"unknown JWKS key id {kid[:64]!r}")

    async def _refresh_jwks(self, jwks: _JwksSet, now: float) -> None:
        """Fetch the key set unless another caller just did or the rate limit forbids it.

        A failed fetch is recorded in ``jwks.error`` (cleared by the next success).
        """
        attempts = jwks.attempts
        async with jwks.lock:
            if jwks.attempts != attempts:
                return  # a concurrent caller fetched while we waited
            last = jwks.attempted_at
            # A clock that went backwards does not block refreshes.
            if last is not None and 0 <= now - last < self._jwks_refresh_interval:
                return
            jwks.attempted_at = now
            jwks.attempts += 1
            try:
                async with asyncio.timeout(self._jwks_timeout):
                    body = await self._http_fetch(jwks.url)
                keys = _parse_jwks(body)
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                # TimeoutError is an OSError; orjson.JSONDecodeError a ValueError.
                jwks.error = exc
                return
            jwks.keys = keys
            jwks.fetched_at = now
            jwks.error = None

    # -- claims -------------------------------------------------------------

    def _user(self, claims: dict[str, object]) -> str:
        sub = _string(claims, "sub")
        if not self._user_id_claim:
            return sub
        value = claims.get(self._user_id_claim)
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise InvalidToken(f"claim {self._user_id_claim!r} must be a string")

    def _check_registered(self, claims: dict[str, object]) -> None:
        """Check audience and issuer (§12: only when configured)."""
        audiences = _audiences(claims)
        issuer = _string(claims, "iss")
        if self._audience and self._audience not in audiences:
            raise InvalidToken("token audience does not match")
        self._audience_groups(audiences)
        if self._issuer and issuer != self._issuer:
            raise InvalidToken("token issuer does not match")
        self._issuer_groups(issuer)

    def _audience_groups(self, audiences: list[str]) -> dict[str, str]:
        """Check ``audience_regex`` against the ``aud`` values; the named groups of the
        first that matches (empty without the regex)."""
        if self._audience_re is None:
            return {}
        for audience in audiences:
            match = self._audience_re.search(audience)
            if match is not None:
                return {k: v for k, v in match.groupdict().items() if v is not None}
        raise InvalidToken("token audience does not match the audience regex")

    def _issuer_groups(self, issuer: str) -> dict[str, str]:
        """Check ``issuer_regex`` against ``iss``; its named groups (empty without it)."""
        if self._issuer_re is None:
            return {}
        match = self._issuer_re.search(issuer)
        if match is None:
            raise InvalidToken("token issuer does not match the issuer regex")
        return {k: v for k, v in match.groupdict().items() if v is not None}

    @staticmethod
    def _check_time(exp: float | None, nbf: float | None, now: float, ignore_expiry: bool) -> None:
        # Same comparisons as PyJWT with leeway 0: expired once now reaches exp.
        if exp is not None and not ignore_expiry and exp <= now:
            raise TokenExpired("token expired")
        if nbf is not None and nbf > now:
            raise TokenExpired("token not valid yet (nbf)")

    def _connect_token(self, parsed: _ParsedToken, now: float, ignore_expiry: bool) -> ConnectToken:
        claims = _load_claims(parsed.payload)
        exp = _numeric_date(claims, "exp")
        nbf = _numeric_date(claims, "nbf")
        iat = _numeric_date(claims, "iat")
        token = ConnectToken(
            user=self._user(claims),
            expire_at=_expire_at(claims, exp),
            info=_binary(claims, "info", "b64info"),
            channels=_channels(claims),
            subs=_subs(claims),
            meta=_json_bytes(claims, "meta"),
            issued_at=None if iat is None else int(iat),
            token_id=_string(claims, "jti"),
        )
        self._check_registered(claims)
        if _string(claims, "channel"):
            raise InvalidToken("connection token must not contain a 'channel' claim")
        self._check_time(exp, nbf, now, ignore_expiry)
        return token

    def _subscription_token(
        self, parsed: _ParsedToken, now: float, ignore_expiry: bool
    ) -> SubscriptionToken:
        claims = _load_claims(parsed.payload)
        exp = _numeric_date(claims, "exp")
        nbf = _numeric_date(claims, "nbf")
        _numeric_date(claims, "iat")
        _string(claims, "jti")
        token = SubscriptionToken(
            user=self._user(claims),
            channel=_string(claims, "channel"),
            client=_string(claims, "client"),
            expire_at=_expire_at(claims, exp),
            info=_binary(claims, "info", "b64info"),
            data=_binary(claims, "data", "b64data"),
            override=_override(claims.get("override")),
        )
        self._check_registered(claims)
        if not token.channel:
            raise InvalidToken("subscription token has no 'channel' claim")
        self._check_time(exp, nbf, now, ignore_expiry)
        return token


def make_token(secret: str, claims: dict[str, object], algorithm: str = "HS256") -> str:
    """Sign ``claims`` into a compact JWT (used by ``whirlwind gentoken`` and tests).

    Args:
        secret: the HMAC secret for HS*, or a PEM private key for RS*/ES*/EdDSA.
        claims: JSON-serialisable claims.
        algorithm: one of HS256/384/512, RS256/384/512, ES256/384/512, EdDSA.

    Raises:
        ValueError: unsupported algorithm, or a key that does not fit it.
    """
    if algorithm not in _SUPPORTED_ALGORITHMS:
        raise ValueError(f"unsupported algorithm {algorithm!r}")
    signer = _ALGORITHMS[algorithm]
    key: object
    if algorithm in _HMAC_ALGORITHMS:
        if not secret:
            raise ValueError("empty HMAC secret")
        key = secret.encode()
    else:
        try:
            key = signer.prepare_key(secret)
        except (PyJWTError, ValueError, TypeError) as exc:
            raise ValueError(f"key does not fit {algorithm}") from exc
        if not isinstance(key, _PRIVATE_KEY_TYPES):
            raise ValueError(f"{algorithm} needs a PEM private key")
    header = orjson.dumps({"alg": algorithm, "typ": "JWT"})
    signing_input = _b64url(header) + b"." + _b64url(orjson.dumps(claims))
    signature = signer.sign(signing_input, key)
    return (signing_input + b"." + _b64url(signature)).decode()


def _b64url(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=")
