"""The GRPC server API (server-api.md §12) of a real Whirlwind process.

The client is ``grpcio`` with the stub generated from our ``api.proto``
(``api_pb2_grpc.CentrifugoApiStub``), as a Centrifugo GRPC API user runs it. Calls block:
the server is another process.
"""

from __future__ import annotations

import contextlib
import importlib.util
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from certificates import Certificates, make_certificates
from harness import deep_merge, default_config, free_port, run_server

from whirlwind.api import api_pb2, api_pb2_grpc

GRPC_KEY = "grpc-test-key"
AUTH = (("authorization", f"apikey {GRPC_KEY}"),)
TRANSPORT = (*AUTH, ("x-centrifugo-error-mode", "transport"))
TIMEOUT = 10.0
"""Seconds for one call; a passing call takes milliseconds."""

pytestmark = pytest.mark.timeout(60)


def unique(prefix: str = "grpc") -> str:
    """A channel name no other test uses."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@dataclass
class GRPCServer:
    """A Whirlwind process with the GRPC API on ``grpc_port``."""

    process: Any
    """The conftest ``RunningServer``."""
    grpc_port: int

    @contextlib.contextmanager
    def stub(
        self, credentials: grpc.ChannelCredentials | None = None
    ) -> Iterator[api_pb2_grpc.CentrifugoApiStub]:
        """A client stub over a fresh channel (TLS with ``credentials``)."""
        target = f"127.0.0.1:{self.grpc_port}"
        if credentials is None:
            channel = grpc.insecure_channel(target)
        else:
            channel = grpc.secure_channel(target, credentials)
        with channel:
            yield api_pb2_grpc.CentrifugoApiStub(channel)


@contextlib.contextmanager
def _grpc_server(
    config: pytest.Config, directory: Path, grpc_api: dict[str, Any]
) -> Iterator[GRPCServer]:
    port = free_port()
    overrides = {"grpc_api": {"enabled": True, "address": "127.0.0.1", "port": port, **grpc_api}}
    merged = deep_merge(default_config(), overrides)
    with run_server(directory, merged) as running:
        yield GRPCServer(process=running, grpc_port=port)


@pytest.fixture(scope="module")
def server(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GRPCServer]:
    """The GRPC API with a key and the default error mode."""
    with _grpc_server(pytestconfig, tmp_path_factory.mktemp("grpc"), {"key": GRPC_KEY}) as s:
        yield s


@pytest.fixture(scope="module")
def api(server: GRPCServer) -> Iterator[api_pb2_grpc.CentrifugoApiStub]:
    """A stub on ``server`` (pass ``metadata=AUTH`` to each call)."""
    with server.stub() as stub:
        yield stub


def _publish(api: api_pb2_grpc.CentrifugoApiStub, channel: str, data: bytes) -> Any:
    response = api.Publish(
        api_pb2.PublishRequest(channel=channel, data=data), metadata=AUTH, timeout=TIMEOUT
    )
    assert not response.HasField("error"), response
    return response.result


def _status_error(call: Callable[..., Any], *args: Any, **kwargs: Any) -> grpc.RpcError:
    """The GRPC error ``call(*args, **kwargs)`` fails with."""
    with pytest.raises(grpc.RpcError) as info:
        call(*args, **kwargs)
    return info.value


# ---- every method ---------------------------------------------------------------------------


def test_publish_raw_json_is_kept_byte_for_byte(api: api_pb2_grpc.CentrifugoApiStub) -> None:
    """GRPC payloads are bytes: what was published is what history returns (§12.1)."""
    channel = unique()
    data = b'{"text": "hi",  "list": [1, 2]}'
    result = _publish(api, channel, data)
    assert result.offset == 1
    assert result.epoch
    history = api.History(
        api_pb2.HistoryRequest(channel=channel, limit=-1), metadata=AUTH, timeout=TIMEOUT
    )
    assert [pub.data for pub in history.result.publications] == [data]
    assert (history.result.offset, history.result.epoch) == (1, result.epoch)


def test_publish_with_tags_and_skip_history(api: api_pb2_grpc.CentrifugoApiStub) -> None:
    """Tags are kept in history; skip_history publishes without storing."""
    channel = unique()
    request = api_pb2.PublishRequest(channel=channel, data=b'{"a":1}', tags={"k": "v"})
    assert api.Publish(request, metadata=AUTH, timeout=TIMEOUT).result.offset == 1
    skipped = api_pb2.PublishRequest(channel=channel, data=b'{"a":2}', skip_history=True)
    response = api.Publish(skipped, metadata=AUTH, timeout=TIMEOUT)
    assert response.HasField("result") and not response.HasField("error")
    history = api.History(
        api_pb2.HistoryRequest(channel=channel, limit=-1), metadata=AUTH, timeout=TIMEOUT
    )
    (publication,) = history.result.publications
    assert dict(publication.tags) == {"k": "v"}
    assert publication.offset == 1


def test_broadcast_keeps_order_and_per_channel_errors(
    api: api_pb2_grpc.CentrifugoApiStub,
) -> None:
    """One PublishResponse per channel, in request order; errors stay per channel (§9.2)."""
    first, last = unique(), unique()
    response = api.Broadcast(
        api_pb2.BroadcastRequest(channels=[first, "nope:x", last], data=b'{"b":1}'),
        metadata=AUTH,
        timeout=TIMEOUT,
    )
    assert not response.HasField("error")
    ok1, failed, ok2 = response.result.responses
    assert ok1.result.offset == 1 and not ok1.HasField("error")
    assert (failed.error.code, failed.error.message) == (102, "unknown channel")
    assert ok2.result.offset == 1
    empty = api.Broadcast(api_pb2.BroadcastRequest(data=b"{}"), metadata=AUTH, timeout=TIMEOUT)
    assert empty.error.code == 107


def test_presence_and_presence_stats(api: api_pb2_grpc.CentrifugoApiStub) -> None:
    """Empty presence is a present, empty map; stats are zeros; presence off → 108."""
    channel = unique()
    presence = api.Presence(
        api_pb2.PresenceRequest(channel=channel), metadata=AUTH, timeout=TIMEOUT
    )
    assert presence.HasField("result") and not presence.HasField("error")
    assert dict(presence.result.presence) == {}
    stats = api.PresenceStats(
        api_pb2.PresenceStatsRequest(channel=channel), metadata=AUTH, timeout=TIMEOUT
    )
    assert (stats.result.num_clients, stats.result.num_users) == (0, 0)
    off = api.Presence(api_pb2.PresenceRequest(channel="public:x"), metadata=AUTH, timeout=TIMEOUT)
    assert (off.error.code, off.error.message) == (108, "not available")
    off_stats = api.PresenceStats(
        api_pb2.PresenceStatsRequest(channel="public:x"), metadata=AUTH, timeout=TIMEOUT
    )
    assert off_stats.error.code == 108


def test_history_paging_since_limit_reverse(api: api_pb2_grpc.CentrifugoApiStub) -> None:
    """§9.9 paging table: limit 0, N, reverse, since (exclusive), wrong epoch → 112."""
    channel = unique()
    for n in range(1, 6):
        epoch = _publish(api, channel, f'{{"n":{n}}}'.encode()).epoch

    def offsets(**fields: Any) -> list[int]:
        response = api.History(
            api_pb2.HistoryRequest(channel=channel, **fields), metadata=AUTH, timeout=TIMEOUT
        )
        assert not response.HasField("error"), response
        assert (response.result.offset, response.result.epoch) == (5, epoch)
        return [pub.offset for pub in response.result.publications]

    assert offsets() == []
    assert offsets(limit=2) == [1, 2]
    assert offsets(limit=2, reverse=True) == [5, 4]
    assert offsets(limit=-1, since=api_pb2.StreamPosition(offset=2, epoch=epoch)) == [3, 4, 5]
    assert offsets(limit=-1, since=api_pb2.StreamPosition(offset=5, epoch=epoch)) == []
    since = api_pb2.StreamPosition(offset=4)
    assert offsets(limit=-1, since=since, reverse=True) == [3, 2, 1]

    gone = api.History(
        api_pb2.HistoryRequest(channel=channel, since=api_pb2.StreamPosition(epoch="gone")),
        metadata=AUTH,
        timeout=TIMEOUT,
    )
    assert (gone.error.code, gone.error.message) == (112, "unrecoverable position")
    off = api.History(api_pb2.HistoryRequest(channel="public:x"), metadata=AUTH, timeout=TIMEOUT)
    assert off.error.code == 108


def test_history_remove_keeps_the_stream_position(api: api_pb2_grpc.CentrifugoApiStub) -> None:
    """history_remove drops publications but keeps offset and epoch (§9.10)."""
    channel = unique()
    epoch = _publish(api, channel, b'{"x":1}').epoch
    _publish(api, channel, b'{"x":2}')
    removed = api.HistoryRemove(
        api_pb2.HistoryRemoveRequest(channel=channel), metadata=AUTH, timeout=TIMEOUT
    )
    assert removed.HasField("result") and not removed.HasField("error")
    history = api.History(
        api_pb2.HistoryRequest(channel=channel, limit=-1), metadata=AUTH, timeout=TIMEOUT
    )
    assert list(history.result.publications) == []
    assert (history.result.offset, history.result.epoch) == (2, epoch)


def test_channels_and_info(api: api_pb2_grpc.CentrifugoApiStub) -> None:
    """channels answers a (here empty) map; info lists this node."""
    channels = api.Channels(
        api_pb2.ChannelsRequest(pattern="grpc*"), metadata=AUTH, timeout=TIMEOUT
    )
    assert channels.HasField("result") and not channels.HasField("error")
    assert dict(channels.result.channels) == {}
    info = api.Info(api_pb2.InfoRequest(), metadata=AUTH, timeout=TIMEOUT)
    (node,) = info.result.nodes
    assert node.uid and node.name and node.version


def test_rpc_is_not_found(api: api_pb2_grpc.CentrifugoApiStub) -> None:
    """No server-side RPC extensions in OSS: 104; an empty method is a bad request."""
    response = api.RPC(
        api_pb2.RPCRequest(method="anything", params=b"{}"), metadata=AUTH, timeout=TIMEOUT
    )
    assert (response.error.code, response.error.message) == (104, "not found")
    empty = api.RPC(api_pb2.RPCRequest(), metadata=AUTH, timeout=TIMEOUT)
    assert empty.error.code == 107


def test_connection_methods_for_a_user_without_connections(
    api: api_pb2_grpc.CentrifugoApiStub,
) -> None:
    """subscribe, unsubscribe, disconnect, refresh succeed with nobody to act on."""
    channel, user = unique(), unique("user")
    calls = [
        api.Subscribe(
            api_pb2.SubscribeRequest(
                channel=channel,
                user=user,
                info=b'{"i":1}',
                override=api_pb2.SubscribeOptionOverride(presence=api_pb2.BoolValue(value=False)),
            ),
            metadata=AUTH,
            timeout=TIMEOUT,
        ),
        api.Unsubscribe(
            api_pb2.UnsubscribeRequest(channel=channel, user=user), metadata=AUTH, timeout=TIMEOUT
        ),
        api.Disconnect(
            api_pb2.DisconnectRequest(
                user=user, disconnect=api_pb2.Disconnect(code=4000, reason="bye")
            ),
            metadata=AUTH,
            timeout=TIMEOUT,
        ),
        api.Refresh(
            api_pb2.RefreshRequest(user=user, expired=True), metadata=AUTH, timeout=TIMEOUT
        ),
    ]
    for response in calls:
        assert response.HasField("result") and not response.HasField("error"), response


def test_unknown_namespace_is_error_102_with_status_ok(
    api: api_pb2_grpc.CentrifugoApiStub,
) -> None:
    """API errors travel in ``error`` with GRPC status OK by default (§12.1)."""
    response = api.Publish(
        api_pb2.PublishRequest(channel="nope:x", data=b"{}"), metadata=AUTH, timeout=TIMEOUT
    )
    assert (response.error.code, response.error.message) == (102, "unknown channel")
    assert not response.HasField("result")
    bad = api.Publish(api_pb2.PublishRequest(data=b"{}"), metadata=AUTH, timeout=TIMEOUT)
    assert (bad.error.code, bad.error.message) == (107, "bad request")


@pytest.mark.parametrize("parallel", [False, True])
def test_batch(api: api_pb2_grpc.CentrifugoApiStub, parallel: bool) -> None:
    """Replies in command order, each the method-named result or an error (§9.14)."""
    channel = unique()
    commands = [
        api_pb2.Command(publish=api_pb2.PublishRequest(channel=channel, data=b'{"n":1}')),
        api_pb2.Command(presence_stats=api_pb2.PresenceStatsRequest(channel=channel)),
        api_pb2.Command(publish=api_pb2.PublishRequest(channel="nope:x", data=b"{}")),
        api_pb2.Command(connections=api_pb2.ConnectionsRequest()),
        api_pb2.Command(info=api_pb2.InfoRequest()),
        api_pb2.Command(history_remove=api_pb2.HistoryRemoveRequest(channel=channel)),
    ]
    response = api.Batch(
        api_pb2.BatchRequest(commands=commands, parallel=parallel),
        metadata=TRANSPORT,  # never applied to batch (§8)
        timeout=TIMEOUT,
    )
    published, stats, unknown, pro, info, removed = response.replies
    assert published.HasField("publish") and published.publish.offset == 1
    assert stats.HasField("presence_stats")
    assert (unknown.error.code, unknown.error.message) == (102, "unknown channel")
    assert pro.error.code == 104
    assert len(info.info.nodes) == 1
    assert removed.HasField("history_remove") and not removed.HasField("error")


# ---- authentication, PRO RPCs ---------------------------------------------------------------


@pytest.mark.parametrize(
    "metadata",
    [
        (),
        (("authorization", "apikey wrong"),),
        (("authorization", f"Apikey {GRPC_KEY}"),),
        (("authorization", GRPC_KEY),),
        (("authorization", "apikey wrong"), ("authorization", f"apikey {GRPC_KEY}")),
    ],
    ids=["missing", "wrong", "scheme-case", "no-scheme", "first-value-counts"],
)
def test_key_auth(api: api_pb2_grpc.CentrifugoApiStub, metadata: tuple[Any, ...]) -> None:
    """Only a first ``authorization`` value of exactly ``apikey KEY`` passes (§12.3)."""
    error = _status_error(
        lambda: api.Info(api_pb2.InfoRequest(), metadata=metadata, timeout=TIMEOUT)
    )
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert error.details() == "unauthenticated"
    batch = _status_error(
        lambda: api.Batch(api_pb2.BatchRequest(), metadata=metadata, timeout=TIMEOUT)
    )
    assert batch.code() is grpc.StatusCode.UNAUTHENTICATED


def test_pro_rpcs_are_unimplemented(api: api_pb2_grpc.CentrifugoApiStub) -> None:
    """PRO RPCs exist in the service but answer UNIMPLEMENTED, after authentication."""
    anonymous = _status_error(
        lambda: api.Connections(api_pb2.ConnectionsRequest(), timeout=TIMEOUT)
    )
    assert anonymous.code() is grpc.StatusCode.UNAUTHENTICATED
    for call, request in (
        (api.Connections, api_pb2.ConnectionsRequest()),
        (api.MapPublish, api_pb2.MapPublishRequest()),
    ):
        error = _status_error(call, request, metadata=AUTH, timeout=TIMEOUT)
        assert error.code() is grpc.StatusCode.UNIMPLEMENTED
        assert error.details().endswith(" not implemented")


# ---- transport error mode -------------------------------------------------------------------


def _parse_status_details(blob: bytes) -> dict[int, list[bytes | int]]:
    """Decode a protobuf message's top-level fields (enough for google.rpc.Status / Any)."""
    fields: dict[int, list[bytes | int]] = {}
    pos = 0

    def varint() -> int:
        nonlocal pos
        shift = result = 0
        while True:
            byte = blob[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result

    while pos < len(blob):
        key = varint()
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            fields.setdefault(number, []).append(varint())
        else:
            assert wire_type == 2
            size = varint()
            fields.setdefault(number, []).append(blob[pos : pos + size])
            pos += size
    return fields


def _details_error(error: grpc.RpcError) -> api_pb2.Error:
    """The ``centrifugal.centrifugo.api.Error`` detail of a failed call (§8)."""
    trailers = dict(error.trailing_metadata() or ())
    status = _parse_status_details(trailers["grpc-status-details-bin"])
    assert status[1] == [error.code().value[0]]
    assert status[2] == [error.details().encode()]
    (any_blob,) = status[3]
    packed = _parse_status_details(bytes(any_blob))
    assert packed[1] == [b"type.googleapis.com/centrifugal.centrifugo.api.Error"]
    return api_pb2.Error.FromString(bytes(packed[2][0]))


def test_transport_error_mode_by_metadata(api: api_pb2_grpc.CentrifugoApiStub) -> None:
    """``x-centrifugo-error-mode: transport`` turns API errors into §6 statuses."""
    channel = unique()
    epoch = _publish(api, channel, b"{}").epoch
    assert epoch
    cases: list[tuple[Callable[[], Any], grpc.StatusCode, int, str]] = [
        (
            lambda: api.Publish(
                api_pb2.PublishRequest(channel="nope:x", data=b"{}"),
                metadata=TRANSPORT,
                timeout=TIMEOUT,
            ),
            grpc.StatusCode.NOT_FOUND,
            102,
            "unknown channel",
        ),
        (
            lambda: api.RPC(api_pb2.RPCRequest(method="m"), metadata=TRANSPORT, timeout=TIMEOUT),
            grpc.StatusCode.NOT_FOUND,
            104,
            "not found",
        ),
        (
            lambda: api.Publish(
                api_pb2.PublishRequest(data=b"{}"), metadata=TRANSPORT, timeout=TIMEOUT
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            107,
            "bad request",
        ),
        (
            lambda: api.History(
                api_pb2.HistoryRequest(channel="public:x"), metadata=TRANSPORT, timeout=TIMEOUT
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            108,
            "not available",
        ),
        (
            lambda: api.History(
                api_pb2.HistoryRequest(
                    channel=channel, since=api_pb2.StreamPosition(offset=1, epoch="gone")
                ),
                metadata=TRANSPORT,
                timeout=TIMEOUT,
            ),
            grpc.StatusCode.OUT_OF_RANGE,
            112,
            "unrecoverable position",
        ),
    ]
    for call, status, code, message in cases:
        error = _status_error(call)
        assert (error.code(), error.details()) == (status, message)
        assert _details_error(error) == api_pb2.Error(code=code, message=message)
    # Success is unchanged, and so are per-channel broadcast errors.
    ok = api.Publish(
        api_pb2.PublishRequest(channel=channel, data=b"{}"), metadata=TRANSPORT, timeout=TIMEOUT
    )
    assert ok.result.offset == 2
    broadcast = api.Broadcast(
        api_pb2.BroadcastRequest(channels=["nope:x"], data=b"{}"),
        metadata=TRANSPORT,
        timeout=TIMEOUT,
    )
    assert broadcast.result.responses[0].error.code == 102


@pytest.fixture(scope="module")
def transport_server(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GRPCServer]:
    """No key, ``error_mode: transport``, a 4 KiB receive limit, reflection asked for."""
    grpc_api = {"error_mode": "transport", "max_receive_message_size": 4096, "reflection": True}
    with _grpc_server(pytestconfig, tmp_path_factory.mktemp("grpc-transport"), grpc_api) as s:
        yield s


def test_configured_transport_mode_without_key(transport_server: GRPCServer) -> None:
    """Without a key no metadata is needed; the configured mode applies to every call."""
    with transport_server.stub() as api:
        info = api.Info(api_pb2.InfoRequest(), timeout=TIMEOUT)
        assert len(info.result.nodes) == 1
        error = _status_error(
            lambda: api.Publish(
                api_pb2.PublishRequest(channel="nope:x", data=b"{}"), timeout=TIMEOUT
            )
        )
        assert (error.code(), error.details()) == (grpc.StatusCode.NOT_FOUND, "unknown channel")


def test_max_receive_message_size(transport_server: GRPCServer) -> None:
    """A request above ``grpc_api.max_receive_message_size`` is refused by GRPC."""
    with transport_server.stub() as api:
        small = api.Publish(
            api_pb2.PublishRequest(channel=unique(), data=b'"' + b"x" * 1000 + b'"'),
            timeout=TIMEOUT,
        )
        assert not small.HasField("error")
        big = b'"' + b"x" * 10_000 + b'"'
        error = _status_error(
            lambda: api.Publish(api_pb2.PublishRequest(channel=unique(), data=big), timeout=TIMEOUT)
        )
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_reflection_without_grpcio_reflection_is_logged(transport_server: GRPCServer) -> None:
    """``grpc_api.reflection`` needs grpcio-reflection; without it the server says so."""
    if importlib.util.find_spec("grpc_reflection") is not None:
        pytest.skip("grpcio-reflection is installed")
    assert "grpcio-reflection is not installed" in transport_server.process.log()


# ---- TLS --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates() -> Certificates:
    """Fresh certificates made with ``cryptography``."""
    return make_certificates()


def test_tls(pytestconfig: pytest.Config, tmp_path: Path, certificates: Certificates) -> None:
    """``grpc_api.tls``: certificate from a file path, key as raw PEM."""
    cert_path = tmp_path / "server.pem"
    cert_path.write_bytes(certificates.server_cert)
    tls = {"enabled": True, "cert_pem": str(cert_path), "key_pem": certificates.server_key.decode()}
    with _grpc_server(pytestconfig, tmp_path, {"key": GRPC_KEY, "tls": tls}) as server:
        credentials = grpc.ssl_channel_credentials(root_certificates=certificates.ca_cert)
        with server.stub(credentials) as api:
            response = api.Publish(
                api_pb2.PublishRequest(channel=unique(), data=b"{}"),
                metadata=AUTH,
                timeout=TIMEOUT,
            )
            assert response.result.offset == 1
        with server.stub() as plaintext:
            error = _status_error(
                lambda: plaintext.Info(api_pb2.InfoRequest(), metadata=AUTH, timeout=TIMEOUT)
            )
            assert error.code() is grpc.StatusCode.UNAVAILABLE
        assert "(TLS)" in server.process.log()


def test_mutual_tls(
    pytestconfig: pytest.Config, tmp_path: Path, certificates: Certificates
) -> None:
    """``client_ca_pem`` requires a client certificate signed by that CA."""
    tls = {
        "enabled": True,
        "cert_pem": certificates.server_cert.decode(),
        "key_pem": certificates.server_key.decode(),
        "client_ca_pem": certificates.ca_cert.decode(),
    }
    with _grpc_server(pytestconfig, tmp_path, {"tls": tls}) as server:
        anonymous = grpc.ssl_channel_credentials(root_certificates=certificates.ca_cert)
        with server.stub(anonymous) as api:
            error = _status_error(lambda: api.Info(api_pb2.InfoRequest(), timeout=TIMEOUT))
            assert error.code() is grpc.StatusCode.UNAVAILABLE
        authenticated = grpc.ssl_channel_credentials(
            root_certificates=certificates.ca_cert,
            private_key=certificates.client_key,
            certificate_chain=certificates.client_cert,
        )
        with server.stub(authenticated) as api:
            assert len(api.Info(api_pb2.InfoRequest(), timeout=TIMEOUT).result.nodes) == 1


# ---- lifecycle ----------------------------------------------------------------------------------


def test_stops_with_the_server(pytestconfig: pytest.Config, tmp_path: Path) -> None:
    """SIGTERM stops the GRPC API with the rest of the server, cleanly."""
    with _grpc_server(pytestconfig, tmp_path, {}) as server, server.stub() as api:
        assert len(api.Info(api_pb2.InfoRequest(), timeout=TIMEOUT).result.nodes) == 1
        assert server.process.stop() == 0
        error = _status_error(lambda: api.Info(api_pb2.InfoRequest(), timeout=2))
        assert error.code() is grpc.StatusCode.UNAVAILABLE
    log = server.process.log()
    assert "serving GRPC API on 127.0.0.1:" in log
    assert "GRPC API stopped" in log
    assert "Traceback" not in log
