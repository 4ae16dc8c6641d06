"""The WebSocket opening handshake (RFC 6455 §4.2.1, RFC 7692 §7.1), on Request objects."""

from __future__ import annotations

import pytest

from whirlwind.transports.websocket import (
    JSON_SUBPROTOCOL,
    PROTOBUF_SUBPROTOCOL,
    Handshake,
    accept_key,
    handshake,
)
from whirlwind.web import Headers, Request, Response

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
"""The key of the example in RFC 6455 §1.3."""
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def upgrade_request(
    *extra: tuple[str, str],
    method: str = "GET",
    query: str = "",
    drop: tuple[str, ...] = (),
) -> Request:
    """A valid upgrade request; ``extra`` adds or replaces headers, ``drop`` removes some."""
    fields = {
        "Host": "server.example.com",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
        "Origin": "http://example.com",
    }
    fields.update(extra)
    headers = Headers({k.lower(): v for k, v in fields.items() if k not in drop})
    return Request(method, "/connection/websocket", query, headers, b"")


def accepted(request: Request, *, compression: bool = False) -> Handshake:
    result = handshake(request, compression=compression)
    assert isinstance(result, Handshake), result
    return result


def refused(request: Request, *, compression: bool = False) -> Response:
    result = handshake(request, compression=compression)
    assert isinstance(result, Response), result
    return result


def head_fields(result: Handshake) -> tuple[str, dict[str, str]]:
    """The status line and the headers (lower-cased names) of the 101 response."""
    text = result.head.decode("latin-1")
    assert text.endswith("\r\n\r\n")
    status, *lines = text[:-4].split("\r\n")
    fields: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        assert name.lower() not in fields, f"{name} twice"
        fields[name.lower()] = value.strip()
    return status, fields


# ------------------------------------------------------------ accepted


def test_accept_key_of_the_rfc_example() -> None:
    assert accept_key(KEY) == ACCEPT


def test_valid_request_gets_101() -> None:
    result = accepted(upgrade_request())
    status, fields = head_fields(result)
    assert status == "HTTP/1.1 101 Switching Protocols"
    assert fields["upgrade"] == "websocket"
    assert fields["connection"] == "Upgrade"
    assert fields["sec-websocket-accept"] == ACCEPT
    assert "sec-websocket-protocol" not in fields
    assert "sec-websocket-extensions" not in fields
    assert not result.binary
    assert not result.deflate


def test_header_tokens_are_case_insensitive_lists() -> None:
    """§4.2.1: Upgrade contains "websocket", Connection contains "Upgrade", any case."""
    request = upgrade_request(("Upgrade", "WebSocket"), ("Connection", "keep-alive, UPGRADE"))
    assert head_fields(accepted(request))[1]["sec-websocket-accept"] == ACCEPT


# ------------------------------------------------------------ refused


def test_not_get_is_405() -> None:
    response = refused(upgrade_request(method="POST"))
    assert response.status == 405
    assert ("Allow", "GET") in response.headers


@pytest.mark.parametrize(
    "request_",
    [
        upgrade_request(drop=("Upgrade",)),
        upgrade_request(("Upgrade", "h2c")),
        upgrade_request(drop=("Connection",)),
        upgrade_request(("Connection", "keep-alive")),
    ],
    ids=["no-upgrade", "other-upgrade", "no-connection", "connection-without-upgrade"],
)
def test_not_an_upgrade_is_400(request_: Request) -> None:
    assert refused(request_).status == 400


@pytest.mark.parametrize(
    "key",
    [
        None,
        "",
        "not base64!",
        "dGhlIHNhbXBsZSBub25jZQ",  # padding missing
        "c2hvcnQ=",  # base64 of 5 bytes, not 16
        "dGhlIHNhbXBsZSBub25jZSEh",  # 17 bytes
        KEY + ", " + KEY,  # sent twice
    ],
)
def test_missing_or_invalid_key_is_400(key: str | None) -> None:
    if key is None:
        request = upgrade_request(drop=("Sec-WebSocket-Key",))
    else:
        request = upgrade_request(("Sec-WebSocket-Key", key))
    response = refused(request)
    assert response.status == 400


@pytest.mark.parametrize("version", [None, "8", "12", "14", "13, 8"])
def test_wrong_version_is_426_with_supported_version(version: str | None) -> None:
    """§4.2.2: answer with the versions we speak in Sec-WebSocket-Version."""
    if version is None:
        request = upgrade_request(drop=("Sec-WebSocket-Version",))
    else:
        request = upgrade_request(("Sec-WebSocket-Version", version))
    response = refused(request)
    assert response.status == 426
    assert ("Sec-WebSocket-Version", "13") in response.headers


# ------------------------------------------------------------ subprotocol and format


@pytest.mark.parametrize(
    ("offered", "chosen", "binary"),
    [
        ("centrifuge-json", JSON_SUBPROTOCOL, False),
        ("centrifuge-protobuf", PROTOBUF_SUBPROTOCOL, True),
        ("centrifuge-protobuf, centrifuge-json", PROTOBUF_SUBPROTOCOL, True),
        ("centrifuge-json, centrifuge-protobuf", JSON_SUBPROTOCOL, False),
        ("mqtt, centrifuge-protobuf", PROTOBUF_SUBPROTOCOL, True),
        ("mqtt,centrifuge-json", JSON_SUBPROTOCOL, False),
    ],
)
def test_first_subprotocol_we_speak_in_client_order(
    offered: str, chosen: str, binary: bool
) -> None:
    result = accepted(upgrade_request(("Sec-WebSocket-Protocol", offered)))
    assert head_fields(result)[1]["sec-websocket-protocol"] == chosen
    assert result.binary is binary


def test_unknown_subprotocols_only_get_no_protocol_header() -> None:
    """§4.2.2: the server may answer without choosing one; JSON is then spoken."""
    result = accepted(upgrade_request(("Sec-WebSocket-Protocol", "mqtt, wamp")))
    assert "sec-websocket-protocol" not in head_fields(result)[1]
    assert not result.binary


@pytest.mark.parametrize(
    "query", ["format=protobuf", "cf_protocol=protobuf", "a=1&format=protobuf"]
)
def test_protobuf_by_query_parameter(query: str) -> None:
    result = accepted(upgrade_request(query=query))
    assert result.binary
    assert "sec-websocket-protocol" not in head_fields(result)[1]


@pytest.mark.parametrize("query", ["format=json", "cf_protocol=json", "other=protobuf"])
def test_json_by_query_parameter(query: str) -> None:
    assert not accepted(upgrade_request(query=query)).binary


# ------------------------------------------------------------ permessage-deflate


def extensions(result: Handshake) -> str | None:
    return head_fields(result)[1].get("sec-websocket-extensions")


def test_deflate_offered_and_accepted() -> None:
    request = upgrade_request(("Sec-WebSocket-Extensions", "permessage-deflate"))
    result = accepted(request, compression=True)
    assert result.deflate
    assert extensions(result) == "permessage-deflate"


def test_deflate_offer_with_browser_parameters() -> None:
    """What browsers send: client_max_window_bits needs no answer from a server."""
    offer = "permessage-deflate; client_max_window_bits"
    result = accepted(upgrade_request(("Sec-WebSocket-Extensions", offer)), compression=True)
    assert result.deflate
    assert extensions(result) == "permessage-deflate"


def test_deflate_server_parameters_are_echoed() -> None:
    offer = (
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10;"
        " client_no_context_takeover"
    )
    result = accepted(upgrade_request(("Sec-WebSocket-Extensions", offer)), compression=True)
    assert result.deflate
    assert extensions(result) == (
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"
    )


def test_deflate_quoted_window_bits() -> None:
    offer = 'permessage-deflate; server_max_window_bits="12"'
    result = accepted(upgrade_request(("Sec-WebSocket-Extensions", offer)), compression=True)
    assert extensions(result) == "permessage-deflate; server_max_window_bits=12"


@pytest.mark.parametrize(
    "offer",
    [
        "permessage-deflate; unknown_param",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits",
        "x-webkit-deflate-frame",
    ],
)
def test_deflate_offer_we_cannot_take_is_declined(offer: str) -> None:
    """RFC 7692 §5.1: decline an offer with an unknown parameter or a bad value."""
    result = accepted(upgrade_request(("Sec-WebSocket-Extensions", offer)), compression=True)
    assert not result.deflate
    assert extensions(result) is None


@pytest.mark.parametrize(
    "offer",
    [
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=abc",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=12",
    ],
)
def test_deflate_offer_with_invalid_value_or_repeated_parameter_is_declined(offer: str) -> None:
    """RFC 7692 §7.1: a server MUST decline an offer with an invalid value or a parameter
    given twice (§7.1.2.2: ``client_max_window_bits`` is a value from 8 to 15)."""
    result = accepted(upgrade_request(("Sec-WebSocket-Extensions", offer)), compression=True)
    assert not result.deflate, f"accepted {offer!r} as {extensions(result)!r}"
    assert extensions(result) is None


def test_first_acceptable_deflate_offer_is_taken() -> None:
    offer = "permessage-deflate; unknown_param, permessage-deflate; client_max_window_bits"
    result = accepted(upgrade_request(("Sec-WebSocket-Extensions", offer)), compression=True)
    assert result.deflate
    assert extensions(result) == "permessage-deflate"


def test_deflate_not_offered() -> None:
    result = accepted(upgrade_request(), compression=True)
    assert not result.deflate
    assert extensions(result) is None


def test_compression_off_gives_no_extension_header() -> None:
    request = upgrade_request(("Sec-WebSocket-Extensions", "permessage-deflate"))
    result = accepted(request, compression=False)
    assert not result.deflate
    assert extensions(result) is None


def test_everything_together() -> None:
    request = upgrade_request(
        ("Sec-WebSocket-Protocol", "centrifuge-protobuf"),
        ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),
    )
    result = accepted(request, compression=True)
    status, fields = head_fields(result)
    assert status == "HTTP/1.1 101 Switching Protocols"
    assert fields == {
        "upgrade": "websocket",
        "connection": "Upgrade",
        "sec-websocket-accept": ACCEPT,
        "sec-websocket-protocol": "centrifuge-protobuf",
        "sec-websocket-extensions": "permessage-deflate",
    }
    assert result.binary
    assert result.deflate
