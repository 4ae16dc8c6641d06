"""Hub: encode once per codec, deliver to every subscriber, join/leave to those who asked."""

from __future__ import annotations

from dataclasses import dataclass, field

from whirlwind import codes
from whirlwind.codes import Disconnect
from whirlwind.hub import FrameCache, Hub
from whirlwind.protocol.base import Codec
from whirlwind.protocol.json_codec import JSON_CODEC
from whirlwind.protocol.messages import ClientInfo, Publication, StreamPosition
from whirlwind.protocol.protobuf_codec import PROTOBUF_CODEC


@dataclass
class FakeSubscriber:
    """Records what the hub queues (``testTransport`` in centrifuge hub_test.go)."""

    client_id: str
    user: str = "u"
    codec: Codec = JSON_CODEC
    received: list[bytes] = field(default_factory=list)
    closed: Disconnect | None = None
    lost: list[str] = field(default_factory=list)
    """Channels whose stream position it lost (it leaves ``hub`` then, as Client does)."""
    hub: Hub | None = None

    def deliver(self, message: bytes) -> None:
        self.received.append(message)

    def deliver_publication(self, channel: str, publication: Publication, message: bytes) -> None:
        self.received.append(message)

    def deliver_batch(self, payload: bytes, frames: FrameCache) -> None:
        self.received.append(payload)

    def disconnect(self, disconnect: Disconnect) -> None:
        self.closed = disconnect

    def insufficient_state(self, channel: str) -> None:
        self.lost.append(channel)
        if self.hub is not None:
            self.hub.remove_subscriber(channel, self)


class CountingCodec:
    """Wraps a codec and counts publication encodings."""

    def __init__(self, inner: Codec) -> None:
        self.inner = inner
        self.encoded = 0
        self.name = inner.name
        self.binary = inner.binary

    def encode_publication(self, channel: str, publication: Publication, *, delta: bool = False):
        self.encoded += 1
        return self.inner.encode_publication(channel, publication, delta=delta)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def test_publication_encoded_once_per_codec() -> None:
    hub = Hub()
    json_codec = CountingCodec(JSON_CODEC)
    pb_codec = CountingCodec(PROTOBUF_CODEC)
    subs = [FakeSubscriber(f"j{i}", codec=json_codec) for i in range(100)]  # type: ignore[arg-type]
    subs += [FakeSubscriber(f"p{i}", codec=pb_codec) for i in range(50)]  # type: ignore[arg-type]
    for sub in subs:
        hub.add_subscriber("news", sub, join_leave=False)
    hub.broadcast_publication("news", Publication(data=b'{"x":1}', offset=3))
    hub.flush_channels()
    assert json_codec.encoded == 1 and pb_codec.encoded == 1
    assert all(len(s.received) == 1 for s in subs)
    assert subs[0].received[0] == (b'{"push":{"channel":"news","pub":{"data":{"x":1},"offset":3}}}')
    assert len({s.received[0] for s in subs[:100]}) == 1


def test_first_and_last_subscriber_reported() -> None:
    hub = Hub()
    a, b = FakeSubscriber("a"), FakeSubscriber("b")
    assert hub.add_subscriber("c", a, join_leave=False) is True
    assert hub.add_subscriber("c", b, join_leave=False) is False
    assert hub.num_subscribers("c") == 2 and hub.num_subscriptions == 2
    assert hub.remove_subscriber("c", a) is False
    assert hub.remove_subscriber("c", b) is True
    assert hub.num_channels == 0 and hub.num_subscriptions == 0
    assert hub.remove_subscriber("c", b) is False


def test_join_leave_only_to_subscribers_that_asked() -> None:
    hub = Hub()
    wants, ignores = FakeSubscriber("a"), FakeSubscriber("b")
    hub.add_subscriber("c", wants, join_leave=True)
    hub.add_subscriber("c", ignores, join_leave=False)
    info = ClientInfo(user="u2", client="x")
    hub.broadcast_join("c", info)
    hub.broadcast_leave("c", info)
    assert wants.received == [
        b'{"push":{"channel":"c","join":{"info":{"user":"u2","client":"x"}}}}',
        b'{"push":{"channel":"c","leave":{"info":{"user":"u2","client":"x"}}}}',
    ]
    assert ignores.received == []


def test_clients_and_users() -> None:
    hub = Hub()
    a, b, c = FakeSubscriber("a", "u1"), FakeSubscriber("b", "u1"), FakeSubscriber("c", "u2")
    for s in (a, b, c):
        hub.add_client(s)
    assert hub.num_clients == 3 and hub.num_users == 2
    assert {s.client_id for s in hub.user_clients("u1")} == {"a", "b"}
    hub.remove_client(a)
    hub.remove_client(b)
    assert hub.num_users == 1 and hub.client("c") is c


def test_binary_payload_closes_json_subscribers_with_3506() -> None:
    """Client-protocol §3: non-JSON data cannot reach a JSON client; Protobuf gets it."""
    hub = Hub()
    json_sub = FakeSubscriber("j")
    pb_sub = FakeSubscriber("p", codec=PROTOBUF_CODEC)
    hub.add_subscriber("c", json_sub, join_leave=False)
    hub.add_subscriber("c", pb_sub, join_leave=False)
    hub.broadcast_publication("c", Publication(data=b"\x00\xffbinary"))
    hub.flush_channels()
    assert json_sub.closed == codes.DISCONNECT_INAPPROPRIATE_PROTOCOL
    assert json_sub.received == []
    assert len(pb_sub.received) == 1 and pb_sub.closed is None


def test_formatted_json_payload_is_compacted_for_json_subscribers() -> None:
    hub = Hub()
    sub = FakeSubscriber("j")
    hub.add_subscriber("c", sub, join_leave=False)
    hub.broadcast_publication("c", Publication(data=b'{\n  "a": 1\n}'))
    hub.flush_channels()
    assert sub.received == [b'{"push":{"channel":"c","pub":{"data":{"a":1}}}}']


def test_publications_between_rounds_are_joined_once_per_channel() -> None:
    """Coalescing: every publication of a round reaches a subscriber as one payload."""
    rounds: list[int] = []
    hub = Hub(schedule_flush=lambda: rounds.append(1))
    subs = [FakeSubscriber(f"s{i}") for i in range(3)]
    for sub in subs:
        hub.add_subscriber("c", sub, join_leave=False)
    for n in range(3):
        hub.broadcast_publication("c", Publication(data=b"%d" % n, offset=n + 1))
    assert rounds == [1]
    assert all(s.received == [] for s in subs)
    hub.flush_channels()
    expected = b"\n".join(
        b'{"push":{"channel":"c","pub":{"data":%d,"offset":%d}}}' % (n, n + 1) for n in range(3)
    )
    assert all(s.received == [expected] for s in subs)
    assert subs[0].received[0] is subs[1].received[0]


def test_pending_subscriber_gets_publications_one_by_one_until_activated() -> None:
    hub = Hub()
    active, joining = FakeSubscriber("a"), FakeSubscriber("b")
    hub.add_subscriber("c", active, join_leave=False)
    hub.add_subscriber("c", joining, join_leave=False, pending=True)
    hub.broadcast_publication("c", Publication(data=b"1", offset=1))
    assert joining.received == [b'{"push":{"channel":"c","pub":{"data":1,"offset":1}}}']
    hub.activate_subscriber("c", joining)
    # Activation wrote the batch to the active subscribers, not again to the joining one.
    assert active.received == joining.received
    hub.broadcast_publication("c", Publication(data=b"2", offset=2))
    hub.flush_channels()
    assert active.received == joining.received and len(joining.received) == 2


# ---------------------------------------------------------------------------
# positioning (client-protocol §13)


def _pub(offset: int) -> Publication:
    return Publication(data=b"%d" % offset, offset=offset)


def _publish(hub: Hub, channel: str, offset: int, epoch: str = "E") -> None:
    """What Node.handle_publication does: advance the position, then fan out."""
    hub.advance_position(channel, StreamPosition(offset=offset, epoch=epoch))
    hub.broadcast_publication(channel, _pub(offset))


def _positioned_pair(hub: Hub) -> tuple[FakeSubscriber, FakeSubscriber]:
    positioned = FakeSubscriber("p", hub=hub)
    plain = FakeSubscriber("q", hub=hub)
    hub.add_subscriber("c", positioned, join_leave=False, pending=True, positioned=True)
    hub.add_subscriber("c", plain, join_leave=False)
    hub.activate_subscriber("c", positioned, StreamPosition(offset=3, epoch="E"))
    return positioned, plain


def test_channel_position_follows_publications() -> None:
    hub = Hub()
    positioned, _ = _positioned_pair(hub)
    assert hub.position("c") == StreamPosition(offset=3, epoch="E")
    _publish(hub, "c", 4)
    _publish(hub, "c", 5)
    hub.flush_channels()
    assert hub.position("c") == StreamPosition(offset=5, epoch="E")
    assert positioned.lost == [] and len(positioned.received) == 1
    assert hub.position("other") is None


def test_offset_gap_ends_positioned_subscribers_before_the_publication() -> None:
    """A skipped offset: positioned subscribers get what came before, then are told."""
    hub = Hub()
    positioned, plain = _positioned_pair(hub)
    _publish(hub, "c", 4)
    _publish(hub, "c", 6)  # 5 never reached this node
    hub.flush_channels()
    assert positioned.lost == ["c"]
    assert positioned.received == [b'{"push":{"channel":"c","pub":{"data":4,"offset":4}}}']
    # Subscribers that did not ask for positioning keep receiving.
    assert b"".join(plain.received).count(b'"offset":') == 2
    assert hub.num_subscribers("c") == 1
    assert hub.position("c") == StreamPosition(offset=6, epoch="E")


def test_new_epoch_ends_positioned_subscribers() -> None:
    """history_meta_ttl expiry recreated the stream: offsets restart in another epoch."""
    hub = Hub()
    positioned, _ = _positioned_pair(hub)
    _publish(hub, "c", 1, epoch="F")
    assert positioned.lost == ["c"]
    assert hub.position("c") == StreamPosition(offset=1, epoch="F")


def test_pending_positioned_subscriber_is_left_to_its_merge() -> None:
    hub = Hub()
    _positioned_pair(hub)
    joining = FakeSubscriber("j", hub=hub)
    hub.add_subscriber("c", joining, join_leave=False, pending=True, positioned=True)
    _publish(hub, "c", 9)
    assert joining.lost == [] and len(joining.received) == 1


def test_activation_in_a_new_epoch_ends_the_others() -> None:
    """A subscriber that read a recreated stream: those still in the old epoch lost it."""
    hub = Hub()
    positioned, _ = _positioned_pair(hub)
    newcomer = FakeSubscriber("n", hub=hub)
    hub.add_subscriber("c", newcomer, join_leave=False, pending=True, positioned=True)
    hub.activate_subscriber("c", newcomer, StreamPosition(offset=0, epoch="F"))
    assert positioned.lost == ["c"] and newcomer.lost == []
    assert hub.position("c") == StreamPosition(offset=0, epoch="F")
    _publish(hub, "c", 1, epoch="F")
    assert newcomer.lost == []


def test_publications_without_positioned_subscribers_only_move_the_position() -> None:
    hub = Hub()
    plain = FakeSubscriber("q")
    hub.add_subscriber("c", plain, join_leave=False)
    _publish(hub, "c", 7)
    _publish(hub, "c", 1, epoch="X")
    hub.flush_channels()
    assert plain.lost == [] and hub.position("c") == StreamPosition(offset=1, epoch="X")


def test_client_ids_are_version_4_uuids() -> None:
    import uuid

    from whirlwind.client.client import new_client_id

    ids = {new_client_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(uuid.UUID(i).version == 4 and str(uuid.UUID(i)) == i for i in ids)
