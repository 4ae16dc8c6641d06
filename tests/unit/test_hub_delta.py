"""Hub delta variants (client-protocol §15): plain, full and delta groups, encoded once each.

A delta subscriber starts in the *full* group (payload in full, a JSON string over JSON),
moves to the *delta* group once a publication in full has been written to it, and from then
on gets fossil deltas against the previous publication of the channel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from centrifuge.fossil import apply_delta as sdk_apply

from whirlwind import codes
from whirlwind.codes import Disconnect
from whirlwind.hub import FrameCache, Hub, delta_chain
from whirlwind.protocol import fossil
from whirlwind.protocol.base import Codec
from whirlwind.protocol.json_codec import JSON_CODEC
from whirlwind.protocol.messages import Publication
from whirlwind.protocol.protobuf_codec import PROTOBUF_CODEC

DOC = {"items": [{"id": i, "name": f"item {i}", "on": i % 3 == 0} for i in range(60)]}


def version(n: int) -> bytes:
    doc = json.loads(json.dumps(DOC))
    doc["version"] = n
    doc["items"][n % 60]["name"] = f"changed in {n}"
    return json.dumps(doc, separators=(",", ":")).encode()


@dataclass
class FakeSubscriber:
    """Records what the hub writes, one entry per message (batches split into lines)."""

    client_id: str
    user: str = "u"
    codec: Codec = JSON_CODEC
    received: list[bytes] = field(default_factory=list)
    writes: int = 0
    closed: Disconnect | None = None

    def deliver(self, message: bytes) -> None:
        self.received.append(message)

    def deliver_publication(self, channel: str, publication: Publication, message: bytes) -> None:
        self.received.append(message)

    def deliver_batch(self, payload: bytes, frames: FrameCache) -> None:
        self.writes += 1
        self.received.extend(payload.split(b"\n") if not self.codec.binary else [payload])

    def disconnect(self, disconnect: Disconnect) -> None:
        self.closed = disconnect

    def pubs(self) -> list[dict[str, Any]]:
        return [json.loads(m)["push"]["pub"] for m in self.received]


class JsClientModel:
    """What centrifuge-js does with the pubs of a delta subscription (json.ts)."""

    def __init__(self) -> None:
        self.prev: bytes | None = None

    def receive(self, pub: dict[str, Any]) -> Any:
        assert isinstance(pub["data"], str), "delta subscriptions get data as a JSON string"
        raw = pub["data"].encode("utf-8")
        if pub.get("delta"):
            assert self.prev is not None
            raw = sdk_apply(self.prev, raw)
        self.prev = raw
        return json.loads(raw)


class CountingCodec:
    """Wraps a codec and counts publication encodings."""

    def __init__(self, inner: Codec) -> None:
        self.inner = inner
        self.encoded = 0
        self.name = inner.name
        self.binary = inner.binary

    def encode_publication(
        self, channel: str, publication: Publication, *, delta: bool = False
    ) -> bytes:
        self.encoded += 1
        return self.inner.encode_publication(channel, publication, delta=delta)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def publish(hub: Hub, n: int, *, delta: bool = True, flush: bool = True) -> Publication:
    pub = Publication(data=version(n), offset=n)
    prev = Publication(data=version(n - 1), offset=n - 1) if n > 1 else None
    hub.broadcast_publication("c", pub, delta=delta, prev_publication=prev)
    if flush:
        hub.flush_channels()
    return pub


def test_first_full_as_string_then_deltas() -> None:
    hub = Hub()
    sub = FakeSubscriber("d")
    hub.add_subscriber("c", sub, join_leave=False, delta=True)
    client = JsClientModel()
    for n in range(1, 6):
        publish(hub, n)
    pubs = sub.pubs()
    assert [p.get("delta", False) for p in pubs] == [False, True, True, True, True]
    assert pubs[0]["data"] == version(1).decode()
    for n, pub in enumerate(pubs, start=1):
        assert client.receive(pub) == json.loads(version(n))
        assert pub["offset"] == n
    assert len(pubs[1]["data"]) < len(version(2)) // 10


def test_plain_subscribers_never_see_delta() -> None:
    hub = Hub()
    plain = FakeSubscriber("p")
    hub.add_subscriber("c", plain, join_leave=False)
    hub.add_subscriber("c", FakeSubscriber("d"), join_leave=False, delta=True)
    for n in range(1, 4):
        publish(hub, n)
    pubs = plain.pubs()
    assert [p["data"] for p in pubs] == [json.loads(version(n)) for n in range(1, 4)]
    assert not any("delta" in p for p in pubs)


def test_encoded_once_per_variant_and_delta_computed_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    real = fossil.delta

    def counting_delta(source: bytes, target: bytes) -> bytes:
        calls.append(1)
        return real(source, target)

    monkeypatch.setattr(fossil, "delta", counting_delta)
    hub = Hub()
    json_codec = CountingCodec(JSON_CODEC)
    pb_codec = CountingCodec(PROTOBUF_CODEC)
    plain = [FakeSubscriber(f"p{i}", codec=json_codec) for i in range(20)]  # type: ignore[arg-type]
    ready = [FakeSubscriber(f"r{i}", codec=json_codec) for i in range(20)]  # type: ignore[arg-type]
    ready_pb = [FakeSubscriber(f"b{i}", codec=pb_codec) for i in range(20)]  # type: ignore[arg-type]
    for sub in plain:
        hub.add_subscriber("c", sub, join_leave=False)
    for sub in ready + ready_pb:
        hub.add_subscriber("c", sub, join_leave=False, delta=True)
    publish(hub, 1)  # the delta subscribers get it in full and become ready
    late = [FakeSubscriber(f"l{i}", codec=json_codec) for i in range(20)]  # type: ignore[arg-type]
    for sub in late:
        hub.add_subscriber("c", sub, join_leave=False, delta=True)
    json_codec.encoded = pb_codec.encoded = 0
    calls.clear()
    publish(hub, 2)
    # JSON: plain, full (the late ones), delta; Protobuf: delta. One fossil delta in all.
    assert (json_codec.encoded, pb_codec.encoded, len(calls)) == (3, 1, 1)
    assert len({s.received[-1] for s in ready}) == 1
    assert json.loads(ready[0].received[-1])["push"]["pub"]["delta"] is True
    assert "delta" not in json.loads(late[0].received[-1])["push"]["pub"]
    assert isinstance(json.loads(late[0].received[-1])["push"]["pub"]["data"], str)


def test_full_group_stays_full_until_its_batch_is_written() -> None:
    """Several publications in one round: a new delta subscriber gets them all in full."""
    rounds: list[int] = []
    hub = Hub(schedule_flush=lambda: rounds.append(1))
    old, new = FakeSubscriber("old"), FakeSubscriber("new")
    hub.add_subscriber("c", old, join_leave=False, delta=True)
    publish(hub, 1)
    hub.add_subscriber("c", new, join_leave=False, delta=True)
    for n in (2, 3):
        publish(hub, n, flush=False)
    hub.flush_channels()
    assert old.writes == 2 and new.writes == 1  # one batch per group and round
    assert [p.get("delta", False) for p in old.pubs()] == [False, True, True]
    assert [p.get("delta", False) for p in new.pubs()] == [False, False]
    publish(hub, 4)
    assert new.pubs()[-1]["delta"] is True
    client = JsClientModel()
    assert [client.receive(p) for p in new.pubs()] == [json.loads(version(n)) for n in (2, 3, 4)]


def test_late_subscriber_never_gets_a_delta_against_a_publication_it_missed() -> None:
    hub = Hub()
    publish(hub, 1)  # nobody subscribed
    sub = FakeSubscriber("d")
    hub.add_subscriber("c", sub, join_leave=False, delta=True)
    publish(hub, 2)
    assert "delta" not in sub.pubs()[0]


def test_publication_not_marked_for_delta_goes_in_full_and_keeps_the_chain() -> None:
    hub = Hub()
    sub = FakeSubscriber("d")
    hub.add_subscriber("c", sub, join_leave=False, delta=True)
    publish(hub, 1)
    publish(hub, 2)
    publish(hub, 3, delta=False)
    publish(hub, 4)
    pubs = sub.pubs()
    assert [p.get("delta", False) for p in pubs] == [False, True, False, True]
    client = JsClientModel()
    assert [client.receive(p) for p in pubs] == [json.loads(version(n)) for n in range(1, 5)]


def test_delta_not_smaller_goes_in_full() -> None:
    hub = Hub()
    sub = FakeSubscriber("d")
    hub.add_subscriber("c", sub, join_leave=False, delta=True)
    hub.broadcast_publication("c", Publication(data=b'"aaaaaaaaaaaaaaaaaaaaaaaa"', offset=1))
    hub.broadcast_publication(
        "c",
        Publication(data=b'"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"', offset=2),
        delta=True,
        prev_publication=Publication(data=b'"aaaaaaaaaaaaaaaaaaaaaaaa"', offset=1),
    )
    hub.flush_channels()
    assert [p.get("delta", False) for p in sub.pubs()] == [False, False]
    assert sub.pubs()[1]["data"] == '"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"'


def test_without_a_base_everyone_gets_full() -> None:
    hub = Hub()
    sub = FakeSubscriber("d")
    hub.add_subscriber("c", sub, join_leave=False, delta=True)
    publish(hub, 1)
    hub.broadcast_publication("c", Publication(data=version(2), offset=2), delta=True)
    hub.flush_channels()
    assert [p.get("delta", False) for p in sub.pubs()] == [False, False]


def test_pending_delta_subscriber_gets_full_then_starts_over_in_full() -> None:
    hub = Hub()
    active, joining = FakeSubscriber("a"), FakeSubscriber("b")
    hub.add_subscriber("c", active, join_leave=False, delta=True)
    publish(hub, 1)
    hub.add_subscriber("c", joining, join_leave=False, pending=True, delta=True)
    publish(hub, 2, flush=False)
    assert "delta" not in joining.pubs()[0] and isinstance(joining.pubs()[0]["data"], str)
    hub.activate_subscriber("c", joining)
    publish(hub, 3)
    assert [p.get("delta", False) for p in joining.pubs()] == [False, False]
    assert [p.get("delta", False) for p in active.pubs()] == [False, True, True]
    publish(hub, 4)
    assert joining.pubs()[-1]["delta"] is True


def test_protobuf_full_is_the_plain_message_and_delta_is_raw_bytes() -> None:
    hub = Hub()
    plain = FakeSubscriber("p", codec=PROTOBUF_CODEC)
    sub = FakeSubscriber("d", codec=PROTOBUF_CODEC)
    hub.add_subscriber("c", plain, join_leave=False)
    hub.add_subscriber("c", sub, join_leave=False, delta=True)
    publish(hub, 1)
    publish(hub, 2)
    assert sub.received[0] == plain.received[0]
    assert sub.received[1] != plain.received[1]
    patch = fossil.delta(version(1), version(2))
    assert sub.received[1] == PROTOBUF_CODEC.encode_publication(
        "c", Publication(data=patch, offset=2, delta=True)
    )


def test_formatted_json_is_delta_compressed_in_its_compact_form() -> None:
    """JSON clients hold compact JSON, Protobuf clients the raw bytes: one base each."""
    hub = Hub()
    json_sub = FakeSubscriber("j")
    pb_sub = FakeSubscriber("p", codec=PROTOBUF_CODEC)
    hub.add_subscriber("c", json_sub, join_leave=False, delta=True)
    hub.add_subscriber("c", pb_sub, join_leave=False, delta=True)
    first = json.dumps(DOC, indent=1).encode()
    second = json.dumps({**DOC, "v": 2}, indent=1).encode()
    hub.broadcast_publication("c", Publication(data=first, offset=1))
    hub.flush_channels()
    hub.broadcast_publication(
        "c",
        Publication(data=second, offset=2),
        delta=True,
        prev_publication=Publication(data=first, offset=1),
    )
    hub.flush_channels()
    client = JsClientModel()
    assert [client.receive(p) for p in json_sub.pubs()] == [DOC, {**DOC, "v": 2}]
    assert json_sub.pubs()[1]["delta"] is True
    patch = fossil.delta(first, second)
    assert fossil.apply(first, patch) == second
    assert pb_sub.received[1] == PROTOBUF_CODEC.encode_publication(
        "c", Publication(data=patch, offset=2, delta=True)
    )


def test_binary_payload_closes_delta_json_subscribers_with_3506() -> None:
    hub = Hub()
    sub = FakeSubscriber("d")
    hub.add_subscriber("c", sub, join_leave=False, delta=True)
    hub.broadcast_publication("c", Publication(data=b"\x00\xff"), delta=True)
    hub.flush_channels()
    assert sub.closed == codes.DISCONNECT_INAPPROPRIATE_PROTOCOL and sub.received == []


def test_recovered_publications_form_a_chain() -> None:
    pubs = [Publication(data=version(n), offset=n) for n in range(1, 5)]
    pubs.append(Publication(data=b'{"other":"thing"}', offset=5))  # delta not smaller
    chain = delta_chain(JSON_CODEC, pubs)
    assert [p.delta for p in chain] == [False, True, True, True, False]
    assert [p.offset for p in chain] == [1, 2, 3, 4, 5]
    prev = b""
    for original, sent in zip(pubs, chain, strict=True):
        prev = fossil.apply(prev, sent.data) if sent.delta else sent.data
        assert prev == original.data
    assert delta_chain(JSON_CODEC, []) == ()
