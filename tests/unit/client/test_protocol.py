"""ClientProtocol: the connection state machine with bytes and floats only (STYLE.md §9).

Targeted tests follow client-protocol.md §5.1 (connect first, failed connect drops the rest
of the frame), §5.2 (105, 106, empty channel), §6 (ids), §7 (ping/pong) and §9 (disconnect
codes); a hypothesis state machine then plays a driver against random frames and timers.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from whirlwind import codes
from whirlwind.client.events import (
    CommandReceived,
    InsufficientState,
    PositionCheckDue,
    PresenceDue,
    SubscriptionExpired,
)
from whirlwind.client.protocol import ClientProtocol, ClientState, ProtocolSettings
from whirlwind.protocol.json_codec import JSON_CODEC
from whirlwind.protocol.messages import (
    Command,
    ConnectRequest,
    ConnectResult,
    PublishResult,
    RefreshRequest,
    RefreshResult,
    SubRefreshRequest,
    SubRefreshResult,
    SubscribeRequest,
    SubscribeResult,
    UnsubscribeRequest,
    UnsubscribeResult,
)

CONNECT = b'{"id":1,"connect":{"token":"T","name":"python"}}'


def new_protocol(**overrides: Any) -> ClientProtocol:
    return ClientProtocol(codec=JSON_CODEC, settings=ProtocolSettings(**overrides), now=0.0)


def sent(proto: ClientProtocol) -> list[dict[str, Any]]:
    """Decode everything queued for the client."""
    return [json.loads(line) for m in proto.data_to_send() for line in m.split(b"\n")]


def commands(proto: ClientProtocol) -> list[Command]:
    """The commands handed to the driver since the last call."""
    events = proto.events_received()
    assert all(isinstance(e, CommandReceived) for e in events)
    return [e.command for e in events if isinstance(e, CommandReceived)]


def connected(**overrides: Any) -> ClientProtocol:
    """A protocol that accepted connect at t=0 (no expiry, no server-side subs)."""
    proto = new_protocol(**overrides)
    proto.receive_frame(CONNECT, now=0.0)
    (command,) = commands(proto)
    proto.connect_succeeded(
        command.id, ConnectResult(client="c1"), ttl=None, server_subs={}, now=0.0
    )
    assert proto.state is ClientState.CONNECTED
    proto.data_to_send()
    return proto


def subscribe(proto: ClientProtocol, command_id: int, channel: str, now: float = 0.0) -> None:
    """Send a subscribe and, if the protocol hands it to the driver, accept it."""
    frame = json.dumps({"id": command_id, "subscribe": {"channel": channel}}).encode()
    proto.receive_frame(frame, now=now)
    for command in commands(proto):
        proto.subscribe_succeeded(command.id, SubscribeResult(), ttl=None, now=now)


# ---------------------------------------------------------------------------
# connect first (§5.1, §6)


def test_publish_before_connect_is_rejected() -> None:
    """A publish arriving before connect closes the connection as a bad request."""
    proto = new_protocol()
    proto.receive_frame(b'{"id":1,"publish":{"channel":"news","data":{}}}', now=0.0)
    assert proto.close_requested == codes.DISCONNECT_BAD_REQUEST
    assert proto.state is ClientState.CLOSED
    assert proto.events_received() == []


def test_connect_is_handed_to_the_driver_and_replied() -> None:
    """Connect becomes a CommandReceived; success sends the reply with ping/pong filled in."""
    proto = new_protocol()
    proto.receive_frame(CONNECT, now=0.0)
    (command,) = commands(proto)
    assert command == Command(id=1, request=ConnectRequest(token="T", name="python"))
    assert proto.data_to_send() == []
    proto.connect_succeeded(1, ConnectResult(client="c1"), ttl=None, server_subs={}, now=0.0)
    assert sent(proto) == [{"id": 1, "connect": {"client": "c1", "ping": 25, "pong": True}}]
    assert proto.close_requested is None


def test_second_connect_is_bad_request() -> None:
    proto = connected()
    proto.receive_frame(b'{"id":2,"connect":{}}', now=1.0)
    assert proto.close_requested == codes.DISCONNECT_BAD_REQUEST


def test_unknown_command_is_bad_request() -> None:
    """A command with an id and no known request (``{"id":1,"foo":{}}``) → 3501."""
    proto = connected()
    proto.receive_frame(b'{"id":2,"foo":{}}', now=1.0)
    assert proto.close_requested == codes.DISCONNECT_BAD_REQUEST


def test_command_without_id_is_bad_request() -> None:
    """§6: only send and pong come without id."""
    proto = connected()
    proto.receive_frame(b'{"subscribe":{"channel":"x"}}', now=1.0)
    assert proto.close_requested == codes.DISCONNECT_BAD_REQUEST


def test_garbage_is_bad_request() -> None:
    proto = new_protocol()
    proto.receive_frame(b"\x00\xffnot json", now=0.0)
    assert proto.close_requested == codes.DISCONNECT_BAD_REQUEST


def test_empty_channel_subscribe_is_bad_request() -> None:
    """§5.2: an empty channel disconnects with 3501."""
    proto = connected()
    proto.receive_frame(b'{"id":2,"subscribe":{"channel":""}}', now=1.0)
    assert proto.close_requested == codes.DISCONNECT_BAD_REQUEST


def test_connect_failure_drops_the_rest_of_the_frame() -> None:
    """§5.1: after a failed connect the batched subscribes get no reply; later input → 3501."""
    proto = new_protocol()
    proto.receive_frame(
        CONNECT + b'\n{"id":2,"subscribe":{"channel":"a"}}\n{"id":3,"subscribe":{"channel":"b"}}',
        now=0.0,
    )
    (command,) = commands(proto)
    assert command.id == 1
    proto.command_failed(1, codes.ERROR_TOKEN_EXPIRED, now=0.0)
    assert sent(proto) == [{"id": 1, "error": {"code": 109, "message": "token expired"}}]
    assert proto.events_received() == []
    assert proto.close_requested is None
    proto.receive_frame(b'{"id":4,"subscribe":{"channel":"c"}}', now=1.0)
    assert proto.close_requested == codes.DISCONNECT_BAD_REQUEST
    assert proto.events_received() == []


def test_commands_of_a_frame_run_one_at_a_time_in_order() -> None:
    """§1.2: the next command is handed out only after the previous one completed."""
    proto = new_protocol()
    proto.receive_frame(
        CONNECT + b'\n{"id":2,"subscribe":{"channel":"a"}}\n{"id":3,"publish":{"channel":"a"}}',
        now=0.0,
    )
    assert [c.id for c in commands(proto)] == [1]
    proto.connect_succeeded(1, ConnectResult(client="c1"), ttl=None, server_subs={}, now=0.0)
    assert [c.id for c in commands(proto)] == [2]
    proto.subscribe_succeeded(2, SubscribeResult(), ttl=None, now=0.0)
    assert [c.id for c in commands(proto)] == [3]
    proto.command_succeeded(3, PublishResult(), now=0.0)
    assert [m["id"] for m in sent(proto)] == [1, 2, 3]


def test_ping_command_is_not_available() -> None:
    """§5.12: the unused ping command gets error 108 without involving the driver."""
    proto = connected()
    proto.receive_frame(b'{"id":2,"ping":{}}', now=1.0)
    assert proto.events_received() == []
    assert sent(proto) == [{"id": 2, "error": {"code": 108, "message": "not available"}}]


# ---------------------------------------------------------------------------
# subscriptions (§5.2, §5.3)


def test_duplicate_subscribe_is_105() -> None:
    proto = connected()
    subscribe(proto, 2, "news")
    assert sent(proto) == [{"id": 2, "subscribe": {}}]
    proto.receive_frame(b'{"id":3,"subscribe":{"channel":"news"}}', now=1.0)
    assert proto.events_received() == []
    assert sent(proto) == [{"id": 3, "error": {"code": 105, "message": "already subscribed"}}]
    assert proto.close_requested is None


def test_subscription_limit_is_106() -> None:
    proto = connected(channel_limit=2)
    subscribe(proto, 2, "a")
    subscribe(proto, 3, "b")
    proto.data_to_send()
    proto.receive_frame(b'{"id":4,"subscribe":{"channel":"c"}}', now=1.0)
    assert proto.events_received() == []
    assert sent(proto) == [{"id": 4, "error": {"code": 106, "message": "limit exceeded"}}]
    # Unsubscribing frees a slot.
    proto.receive_frame(b'{"id":5,"unsubscribe":{"channel":"a"}}', now=1.0)
    (command,) = commands(proto)
    proto.command_succeeded(command.id, UnsubscribeResult(), now=1.0)
    subscribe(proto, 6, "c")
    assert sent(proto) == [{"id": 5, "unsubscribe": {}}, {"id": 6, "subscribe": {}}]


# ---------------------------------------------------------------------------
# timers (§5.1 stale, §7 ping/pong)


def test_stale_connection_is_closed_with_3502() -> None:
    proto = new_protocol(stale_close_delay=10.0)
    assert proto.next_deadline() == 10.0
    proto.handle_timer(9.9)
    assert proto.close_requested is None
    proto.handle_timer(10.0)
    assert proto.close_requested == codes.DISCONNECT_STALE


def test_connect_in_progress_still_goes_stale() -> None:
    """The stale timer runs until connect succeeds."""
    proto = new_protocol(stale_close_delay=1.0)
    proto.receive_frame(CONNECT, now=0.0)
    commands(proto)
    proto.handle_timer(1.0)
    assert proto.close_requested == codes.DISCONNECT_STALE
    # The driver's late answer changes nothing.
    proto.connect_succeeded(1, ConnectResult(client="c1"), ttl=None, server_subs={}, now=1.5)
    assert proto.data_to_send() == []
    assert proto.state is ClientState.CLOSED


def test_ping_at_interval_then_no_pong_is_3012() -> None:
    proto = connected(ping_interval=25.0, pong_timeout=8.0, presence_update_interval=0)
    assert proto.next_deadline() == 25.0
    proto.handle_timer(24.0)
    assert proto.data_to_send() == []
    proto.handle_timer(25.0)
    assert proto.data_to_send() == [b"{}"]
    assert proto.next_deadline() == 33.0
    proto.handle_timer(32.9)
    assert proto.close_requested is None
    proto.handle_timer(33.0)
    assert proto.close_requested == codes.DISCONNECT_NO_PONG


def test_first_ping_and_presence_update_are_spread() -> None:
    """centrifuge's ``addPingUpdate(isFirst)``: the first ping comes after between half and
    all of the period (the driver's random ``spread``), the later ones a period apart."""
    proto = new_protocol(ping_interval=20.0, pong_timeout=0, presence_update_interval=30.0)
    proto.receive_frame(CONNECT, now=0.0)
    commands(proto)
    proto.connect_succeeded(
        1, ConnectResult(client="c"), ttl=None, server_subs={}, now=0.0, spread=0.0
    )
    proto.data_to_send()
    assert proto.next_deadline() == 10.0
    proto.handle_timer(10.0)
    assert proto.data_to_send() == [b"{}"]
    assert proto.next_deadline() == 15.0  # the first presence update: half of 30
    proto.handle_timer(15.0)
    assert proto.next_deadline() == 30.0  # ping: 10 + 20
    proto.handle_timer(30.0)
    assert proto.data_to_send() == [b"{}"]
    assert proto.next_deadline() == 45.0  # presence: 15 + 30
    other = new_protocol(ping_interval=20.0, pong_timeout=0, presence_update_interval=0)
    other.receive_frame(CONNECT, now=0.0)
    commands(other)
    other.connect_succeeded(
        1, ConnectResult(client="c"), ttl=None, server_subs={}, now=0.0, spread=0.5
    )
    assert other.next_deadline() == 15.0


def test_pong_clears_the_pong_deadline() -> None:
    proto = connected(ping_interval=25.0, pong_timeout=8.0, presence_update_interval=0)
    proto.handle_timer(25.0)
    assert proto.data_to_send() == [b"{}"]
    proto.receive_frame(b"{}", now=26.0)
    assert proto.events_received() == []
    assert proto.next_deadline() == 50.0
    proto.handle_timer(33.0)
    assert proto.close_requested is None
    proto.handle_timer(50.0)
    assert proto.data_to_send() == [b"{}"]
    proto.receive_frame(b"{}", now=51.0)
    proto.handle_timer(75.0)
    assert proto.data_to_send() == [b"{}"]
    assert proto.close_requested is None


def test_connect_reply_announces_ping_settings() -> None:
    proto = new_protocol(ping_interval=1.0, pong_timeout=0.5)
    proto.receive_frame(CONNECT, now=0.0)
    commands(proto)
    proto.connect_succeeded(1, ConnectResult(client="c"), ttl=None, server_subs={}, now=0.0)
    assert sent(proto) == [{"id": 1, "connect": {"client": "c", "ping": 1, "pong": True}}]


def test_connection_expiry_closes_with_3005() -> None:
    """§12.4: ttl + expired_close_delay without refresh → 3005; a refresh re-arms it."""
    proto = new_protocol(ping_interval=0, presence_update_interval=0, expired_close_delay=25.0)
    proto.receive_frame(CONNECT, now=0.0)
    commands(proto)
    proto.connect_succeeded(
        1, ConnectResult(client="c", expires=True, ttl=10), ttl=10.0, server_subs={}, now=0.0
    )
    assert proto.next_deadline() == 35.0
    proto.receive_frame(b'{"id":2,"refresh":{"token":"NEW"}}', now=10.0)
    (command,) = commands(proto)
    assert command.request == RefreshRequest(token="NEW")
    proto.command_succeeded(2, RefreshResult(expires=True, ttl=100), now=10.0)
    assert proto.next_deadline() == 135.0
    proto.handle_timer(35.0)
    assert proto.close_requested is None
    proto.handle_timer(135.0)
    assert proto.close_requested == codes.DISCONNECT_EXPIRED


def test_subscription_expiry_sends_unsubscribe_2501() -> None:
    """§12.5: a client-side subscription not refreshed in time gets unsubscribe 2501."""
    proto = connected(ping_interval=0, presence_update_interval=0, expired_sub_close_delay=5.0)
    proto.receive_frame(b'{"id":2,"subscribe":{"channel":"s","token":"T"}}', now=0.0)
    commands(proto)
    proto.subscribe_succeeded(2, SubscribeResult(expires=True, ttl=10), ttl=10.0, now=0.0)
    proto.data_to_send()
    proto.handle_timer(15.0)
    assert proto.events_received() == [SubscriptionExpired("s")]
    assert sent(proto) == [
        {"push": {"channel": "s", "unsubscribe": {"code": 2501, "reason": "subscription expired"}}}
    ]
    assert "s" not in proto.subscriptions


def test_sub_refresh_needs_a_subscription() -> None:
    """§5.11: sub_refresh for a channel the client is not subscribed to → 103."""
    proto = connected()
    proto.receive_frame(b'{"id":2,"sub_refresh":{"channel":"s","token":"T"}}', now=0.0)
    assert proto.events_received() == []
    assert sent(proto) == [{"id": 2, "error": {"code": 103, "message": "permission denied"}}]
    subscribe(proto, 3, "s")
    proto.data_to_send()
    proto.receive_frame(b'{"id":4,"sub_refresh":{"channel":"s","token":"T"}}', now=0.0)
    (command,) = commands(proto)
    assert command.request == SubRefreshRequest(channel="s", token="T")
    proto.command_succeeded(4, SubRefreshResult(expires=True, ttl=5), now=0.0)
    assert sent(proto) == [{"id": 4, "sub_refresh": {"expires": True, "ttl": 5}}]


def test_presence_due_is_reported_while_subscribed() -> None:
    proto = connected(ping_interval=0, presence_update_interval=27.0)
    proto.handle_timer(27.0)
    assert proto.events_received() == []
    subscribe(proto, 2, "a", now=30.0)
    proto.handle_timer(54.0)
    assert proto.events_received() == [PresenceDue()]


# ---------------------------------------------------------------------------
# positioning (§13): periodic checks, unsubscribe 2500 / disconnect 3010


POSITIONED = SubscribeResult(positioned=True, recoverable=True, epoch="E", offset=3)


def positioned_subscription(channel: str = "p", **overrides: Any) -> ClientProtocol:
    """A connected protocol with one positioned client-side subscription made at t=0."""
    settings = {"ping_interval": 0, "presence_update_interval": 0, **overrides}
    proto = connected(**settings)
    frame = json.dumps({"id": 2, "subscribe": {"channel": channel, "recoverable": True}})
    proto.receive_frame(frame.encode(), now=0.0)
    commands(proto)
    proto.subscribe_succeeded(2, POSITIONED, ttl=None, now=0.0)
    proto.data_to_send()
    return proto


def test_positioned_subscription_is_checked_every_delay() -> None:
    """The check runs every channel_position_check_delay, for positioned channels only."""
    proto = positioned_subscription(channel_position_check_delay=40.0)
    subscribe(proto, 3, "plain")
    assert proto.next_deadline() == 40.0
    proto.handle_timer(39.0)
    assert proto.events_received() == []
    proto.handle_timer(40.0)
    assert proto.events_received() == [PositionCheckDue(("p",))]
    assert proto.next_deadline() == 80.0


def test_no_position_check_without_positioned_subscriptions() -> None:
    proto = connected(ping_interval=0, presence_update_interval=0)
    subscribe(proto, 2, "plain")
    assert proto.next_deadline() is None


def test_one_failed_position_check_is_tolerated() -> None:
    """A publication in flight can fail one check: only two failures in a row count."""
    proto = positioned_subscription()
    proto.position_checked("p", valid=False)
    proto.position_checked("p", valid=True)
    proto.position_checked("p", valid=False)
    assert proto.events_received() == []
    assert sent(proto) == []
    assert "p" in proto.subscriptions


def test_two_failed_position_checks_unsubscribe_2500() -> None:
    """§10: a client-side subscription that lost its place gets 2500 and resubscribes."""
    proto = positioned_subscription(channel_position_check_delay=1.0)
    proto.handle_timer(1.0)
    assert proto.events_received() == [PositionCheckDue(("p",))]
    proto.position_checked("p", valid=False)
    proto.handle_timer(2.0)
    assert proto.events_received() == [PositionCheckDue(("p",))]
    proto.position_checked("p", valid=False)
    assert proto.events_received() == [InsufficientState("p")]
    assert sent(proto) == [
        {"push": {"channel": "p", "unsubscribe": {"code": 2500, "reason": "insufficient state"}}}
    ]
    assert "p" not in proto.subscriptions
    assert proto.close_requested is None
    assert proto.next_deadline() == 3.0  # one more round finds nothing positioned
    proto.handle_timer(3.0)
    assert proto.events_received() == []
    assert proto.next_deadline() is None


def test_server_side_subscription_lost_position_disconnects_3010() -> None:
    """§9: a server-side subscription cannot be resubscribed alone: disconnect 3010."""
    proto = new_protocol(ping_interval=0, presence_update_interval=0)
    proto.receive_frame(CONNECT, now=0.0)
    (command,) = commands(proto)
    proto.connect_succeeded(
        command.id,
        ConnectResult(client="c1", subs={"#42": POSITIONED}),
        ttl=None,
        server_subs={"#42": None},
        now=0.0,
    )
    assert proto.next_deadline() == 40.0
    proto.insufficient_state("#42")
    assert proto.close_requested == codes.DISCONNECT_INSUFFICIENT_STATE


def test_runtime_server_side_positioned_subscription_is_checked() -> None:
    proto = connected(ping_interval=0, presence_update_interval=0)
    assert proto.add_server_subscription("s", None, 5.0, positioned=True)
    assert proto.next_deadline() == 45.0
    proto.position_checked("s", valid=False)
    proto.position_checked("s", valid=False)
    assert proto.close_requested == codes.DISCONNECT_INSUFFICIENT_STATE


def test_insufficient_state_for_unknown_channel_is_ignored() -> None:
    proto = positioned_subscription()
    proto.insufficient_state("other")
    proto.position_checked("other", valid=False)
    proto.position_checked("other", valid=False)
    assert proto.events_received() == [] and sent(proto) == []


def test_position_check_disabled_by_zero_delay() -> None:
    proto = positioned_subscription(channel_position_check_delay=0)
    assert proto.next_deadline() is None


# ---------------------------------------------------------------------------
# output queue (§6: 3008 slow)


def test_queue_overflow_is_3008() -> None:
    proto = connected(queue_max_size=100)
    assert proto.enqueue(b"x" * 60)
    assert not proto.enqueue(b"x" * 60)
    assert proto.close_requested == codes.DISCONNECT_SLOW
    assert not proto.enqueue(b"x")


def test_draining_the_queue_makes_room() -> None:
    proto = connected(queue_max_size=100)
    for _ in range(10):
        assert proto.enqueue(b"x" * 60)
        assert proto.data_to_send() == [b"x" * 60]
    assert proto.close_requested is None


# ---------------------------------------------------------------------------
# after close nothing happens


def test_nothing_happens_after_close() -> None:
    proto = connected()
    proto.close(codes.DISCONNECT_SHUTDOWN)
    proto.close(codes.DISCONNECT_SLOW)
    assert proto.close_requested == codes.DISCONNECT_SHUTDOWN
    proto.receive_frame(b'{"id":2,"subscribe":{"channel":"a"}}', now=1.0)
    proto.receive_frame(b"garbage", now=1.0)
    proto.handle_timer(1000.0)
    assert proto.events_received() == []
    assert proto.data_to_send() == []
    assert proto.next_deadline() is None
    assert proto.close_requested == codes.DISCONNECT_SHUTDOWN


# ---------------------------------------------------------------------------
# Fuzzing: a random driver against random frames and timers

BENIGN_LINES = [
    # Commands a connected client may send without being disconnected.
    b'{"id":2,"subscribe":{"channel":"a"}}',
    b'{"id":3,"subscribe":{"channel":"b","token":"T"}}',
    b'{"id":4,"subscribe":{"channel":"c"}}',
    b'{"id":5,"unsubscribe":{"channel":"a"}}',
    b'{"id":6,"publish":{"channel":"a","data":{"x":1}}}',
    b'{"id":7,"presence":{"channel":"a"}}',
    b'{"id":8,"presence_stats":{"channel":"a"}}',
    b'{"id":9,"history":{"channel":"a","limit":-1}}',
    b'{"id":10,"rpc":{"method":"m","data":{}}}',
    b'{"id":11,"refresh":{"token":"T"}}',
    b'{"id":13,"sub_refresh":{"channel":"a","token":"T"}}',
    b'{"id":14,"ping":{}}',
    b'{"send":{"data":{}}}',
    b"{}",
]
HOSTILE_LINES = [
    CONNECT,
    b'{"id":1,"connect":{}}',
    b'{"id":4,"subscribe":{"channel":""}}',
    b'{"id":12,"refresh":{}}',
    b'{"id":15,"foo":{}}',
    b'{"subscribe":{"channel":"x"}}',
]

batches = st.lists(st.sampled_from(BENIGN_LINES), min_size=1, max_size=4).map(b"\n".join)
hostile_frames = st.one_of(
    st.lists(st.sampled_from(BENIGN_LINES + HOSTILE_LINES), min_size=1, max_size=4).map(b"\n".join),
    st.binary(max_size=40),
    st.sampled_from([b"", b"\n", b"{", b"[]", b'{"id":1,"connect":[]}']),
)


class ProtocolMachine(RuleBasedStateMachine):
    """Frames, timers and driver answers in any order: no exception, and after close,
    nothing more happens."""

    @initialize(
        ping=st.sampled_from([0.0, 1.0, 25.0]),
        pong=st.sampled_from([0.0, 0.5, 8.0]),
        limit=st.integers(min_value=1, max_value=3),
        queue=st.sampled_from([300, 1_048_576]),
    )
    def setup(self, ping: float, pong: float, limit: int, queue: int) -> None:
        self.proto = ClientProtocol(
            codec=JSON_CODEC,
            settings=ProtocolSettings(
                ping_interval=ping,
                pong_timeout=pong,
                stale_close_delay=20.0,
                channel_limit=limit,
                queue_max_size=queue,
                presence_update_interval=3.0,
            ),
            now=0.0,
        )
        self.now = 0.0
        self.inflight: list[Command] = []
        self.closed_at_step = False
        self.connect_sent = False

    def _collect(self) -> None:
        """Play the driver's part: take events, drain output."""
        for event in self.proto.events_received():
            assert not self.closed_at_step, f"event after close: {event}"
            if isinstance(event, CommandReceived):
                self.inflight.append(event.command)
            else:
                assert isinstance(event, SubscriptionExpired | PresenceDue)
        assert len(self.inflight) <= 1, "one command in flight at a time"
        data = self.proto.data_to_send()
        if self.closed_at_step:
            assert data == [], "output after close"
        if self.proto.close_requested is not None:
            self.closed_at_step = True

    @precondition(lambda self: not self.connect_sent)
    @rule(rest=st.none() | batches)
    def receive_connect(self, rest: bytes | None) -> None:
        self.connect_sent = True
        frame = CONNECT if rest is None else CONNECT + b"\n" + rest
        self.proto.receive_frame(frame, self.now)
        self._collect()

    @precondition(lambda self: self.connect_sent)
    @rule(frame=batches, dt=st.floats(min_value=0, max_value=2))
    def receive(self, frame: bytes, dt: float) -> None:
        self.now += dt
        self.proto.receive_frame(frame, self.now)
        self._collect()

    @rule(frame=hostile_frames, dice=st.integers(min_value=0, max_value=7))
    def receive_hostile(self, frame: bytes, dice: int) -> None:
        # Mostly skipped (hypothesis favours bounds, so not 0 or 7), so that runs also get
        # far into a connected session.
        if dice == 3:
            self.proto.receive_frame(frame, self.now)
            self._collect()

    @rule(dt=st.floats(min_value=0, max_value=6))
    def timer(self, dt: float) -> None:
        self.now += dt
        self.proto.handle_timer(self.now)
        self._collect()

    @rule(size=st.integers(min_value=1, max_value=100))
    def fan_out(self, size: int) -> None:
        accepted = self.proto.enqueue(b"x" * size)
        if self.closed_at_step:
            assert not accepted
        self._collect()

    @precondition(lambda self: bool(self.inflight))
    @rule(dice=st.integers(min_value=0, max_value=3), ttl=st.none() | st.floats(0.5, 20))
    def answer(self, dice: int, ttl: float | None) -> None:
        command = self.inflight.pop()
        proto = self.proto
        request = command.request
        if dice == 0:
            proto.command_failed(command.id, codes.ERROR_PERMISSION_DENIED, now=self.now)
        elif isinstance(request, ConnectRequest):
            expires = ttl is not None
            result = ConnectResult(client="c", expires=expires, ttl=int(ttl or 0))
            proto.connect_succeeded(command.id, result, ttl=ttl, server_subs={}, now=self.now)
        elif isinstance(request, SubscribeRequest):
            proto.subscribe_succeeded(command.id, SubscribeResult(), ttl=ttl, now=self.now)
        elif isinstance(request, UnsubscribeRequest):
            proto.command_succeeded(command.id, UnsubscribeResult(), now=self.now)
        elif isinstance(request, RefreshRequest):
            result_r = RefreshResult(expires=ttl is not None, ttl=int(ttl or 0))
            proto.command_succeeded(command.id, result_r, now=self.now)
        elif isinstance(request, SubRefreshRequest):
            result_s = SubRefreshResult(expires=ttl is not None, ttl=int(ttl or 0))
            proto.command_succeeded(command.id, result_s, now=self.now)
        elif command.id == 0:
            proto.command_done(command.id, now=self.now)
        else:
            proto.command_succeeded(command.id, PublishResult(), now=self.now)
        self._collect()

    @invariant()
    def consistent(self) -> None:
        proto = getattr(self, "proto", None)
        if proto is None:
            return
        if proto.close_requested is not None:
            assert proto.state is ClientState.CLOSED
            assert proto.next_deadline() is None
        else:
            assert proto.state is not ClientState.CLOSED
            assert len(proto.subscriptions) <= proto.settings.channel_limit


TestProtocolMachine = ProtocolMachine.TestCase
TestProtocolMachine.settings = settings(
    max_examples=200,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
