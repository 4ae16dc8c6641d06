"""Hub: this node's connections and who is subscribed to what; encode-once fan-out.

Mirrors ``centrifugal/centrifuge hub.go``, with one step more: a channel's publications are
encoded once per protocol variant **and batched once per channel**. Between two flush
rounds the encoded messages of a channel accumulate in the channel's batch; the round joins
them into one payload (JSON lines joined by ``\\n``, Protobuf messages concatenated), frames
it once per transport kind and hands the same bytes to every subscriber (STYLE.md §7:
nothing here awaits a subscriber). A subscriber with private output already queued (a
reply, a join) takes the payload into its queue instead, so its output stays in order.

Subscribers that are still subscribing are *pending*: they get each publication on its own
(with the publication, so the driver can merge it with what recovery returned, by offset)
and join the batch group when their subscribe reply has been queued (client-protocol.md
§5.2: the reply precedes the channel's pushes). Join/leave pushes go only to active
subscribers that asked for them; the channel's batch is written first so a channel's pushes
keep their order.

Delta compression (client-protocol.md §15): a subscriber that negotiated ``fossil`` is in
one of two states, and each (codec, state) pair is a batch group of its own, so every
publication is still encoded once per variant:

* *full*: it gets the payload in full (over JSON as a string, ``delta: false``). Every
  subscriber starts here, since the hub cannot know what it holds.
* *delta*: it received the channel's previous publication on this node, the base of the
  next delta; a delta-marked publication reaches it as a fossil delta against that base
  (``delta: true``), computed once per channel, unless the delta is not smaller.

A *full* group moves to *delta* when its batch is written: then it has received a
publication in full, the one the broker names as the next publication's base.

Positioning (client-protocol.md §13): the hub keeps each channel's last stream position it
fanned out. All active subscribers of a channel get the same publications, so that position
is theirs too (a pending one catches up through its own merge). A publication that does not
follow it — a missing offset or a new epoch — means every positioned subscriber here lost
its place: what was batched before goes out first, then each is told (unsubscribe 2500 or
disconnect 3010, by the client) and leaves before the publication is batched, so no client
ever advances past a gap silently.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from whirlwind import codes
from whirlwind.codes import Disconnect
from whirlwind.protocol import fossil
from whirlwind.protocol.base import Codec
from whirlwind.protocol.json_codec import json_payload
from whirlwind.protocol.messages import ClientInfo, Join, Leave, Publication, Push, StreamPosition

FrameCache = dict[object, bytes]
"""Transport frames of one payload, by transport framing kind (built once per round)."""


class Subscriber(Protocol):
    """What the hub needs of a connection."""

    @property
    def client_id(self) -> str:
        """The connection's id."""
        ...

    @property
    def user(self) -> str:
        """The connection's user id ("" for anonymous)."""
        ...

    @property
    def codec(self) -> Codec:
        """How this connection encodes."""
        ...

    def deliver(self, message: bytes) -> None:
        """Queue one encoded message; never blocks."""
        ...

    def deliver_publication(self, channel: str, publication: Publication, message: bytes) -> None:
        """Take one publication while subscribing (held until the subscribe reply)."""
        ...

    def deliver_batch(self, payload: bytes, frames: FrameCache) -> None:
        """Write a joined channel payload now (``frames`` caches its transport frames)."""
        ...

    def disconnect(self, disconnect: Disconnect) -> None:
        """Close the connection."""
        ...

    def insufficient_state(self, channel: str) -> None:
        """A positioned subscriber lost its place in ``channel``'s stream (§13).

        Before returning it must leave the channel or close: the publication past the gap
        must not reach it.
        """
        ...


class _Variant(enum.IntEnum):
    """How a subscriber gets a channel's publications (client-protocol §15).

    An IntEnum: it is part of the batch group keys, and an IntEnum hashes in C.
    """

    PLAIN = 0
    """No delta negotiated: the payload as it is."""
    FULL = 1
    """Delta negotiated, next publication in full (a JSON string over JSON)."""
    DELTA = 2
    """Delta negotiated and the previous publication received: deltas where possible."""


_Group = tuple[Codec, _Variant]


@dataclass(slots=True)
class _ChannelSubscribers:
    groups: dict[_Group, dict[str, Subscriber]] = field(default_factory=dict)
    """Active subscribers, grouped by codec and variant: each group shares its batch."""
    member: dict[str, _Group] = field(default_factory=dict)
    """The group of each active subscriber."""
    pending: dict[str, Subscriber] = field(default_factory=dict)
    """Subscribers whose subscribe is in progress."""
    negotiated: set[str] = field(default_factory=set)
    """Subscribers (active or pending) that negotiated delta compression."""
    join_leave: dict[str, Subscriber] = field(default_factory=dict)
    batch: dict[_Group, list[bytes]] = field(default_factory=dict)
    """Encoded publications not yet written, per group."""
    count: int = 0
    positioned: dict[str, Subscriber] = field(default_factory=dict)
    """Subscribers (active or pending) that must not miss a publication (§13)."""
    position: StreamPosition | None = None
    """The stream position of the last publication fanned out (or of the first
    positioned subscriber, before any)."""


def _payload(codec: Codec, data: bytes) -> bytes | None:
    """``data`` as ``codec``'s clients get it: compact JSON (None if not JSON) or as is."""
    return data if codec.binary else json_payload(data)


def _encode(codec: Codec, channel: str, publication: Publication, *, delta: bool) -> bytes | None:
    """The publication as ``codec``'s clients get it; None when a JSON client cannot."""
    data = _payload(codec, publication.data)
    if data is None:
        return None
    if data is not publication.data:
        publication = dataclasses.replace(publication, data=data)
    return codec.encode_publication(channel, publication, delta=delta)


def _refuse(clients: Iterable[Subscriber]) -> None:
    """Client-protocol §3: a non-JSON payload cannot reach a JSON client (a binary one from
    a Protobuf publisher): Centrifugo closes it with 3506."""
    for client in list(clients):
        client.disconnect(codes.DISCONNECT_INAPPROPRIATE_PROTOCOL)


def _encode_plain(
    codec: Codec, channel: str, publication: Publication, clients: Iterable[Subscriber]
) -> bytes | None:
    """The publication as is; None (and ``clients`` closed) when it cannot be sent."""
    message = _encode(codec, channel, publication, delta=False)
    if message is None:
        _refuse(clients)
    return message


class _Encodings:
    """One publication's messages, each encoded once per (codec, variant)."""

    __slots__ = ("_fossil", "channel", "delta", "messages", "prev", "publication")

    def __init__(
        self, channel: str, publication: Publication, delta: bool, prev: Publication | None
    ) -> None:
        self.channel = channel
        self.publication = publication
        self.delta = delta
        self.prev = prev
        self.messages: dict[_Group, bytes | None] = {}
        self._fossil: tuple[bytes, bytes, bytes] | None = None

    def message(self, group: _Group, clients: Iterable[Subscriber]) -> bytes | None:
        """The message for ``group``; None (and ``clients`` closed) when it cannot be sent."""
        if group in self.messages:
            message = self.messages[group]
        else:
            message = self.messages[group] = self._encode(group)
        if message is None:
            _refuse(clients)
        return message

    def _encode(self, group: _Group) -> bytes | None:
        codec, variant = group
        publication = self.publication
        if variant is _Variant.DELTA:
            message = self._encode_delta(codec)
            if message is not None:
                return message
            variant = _Variant.FULL
        if variant is _Variant.FULL and codec.binary:
            # Protobuf carries data as bytes either way: the plain message is the same.
            variant = _Variant.PLAIN
        if (codec, variant) in self.messages:
            return self.messages[(codec, variant)]
        message = _encode(codec, self.channel, publication, delta=variant is not _Variant.PLAIN)
        self.messages[(codec, variant)] = message
        return message

    def _encode_delta(self, codec: Codec) -> bytes | None:
        """The fossil delta message, or None when the payload goes in full (§15)."""
        prev = self.prev
        if not self.delta or prev is None:
            return None
        target = _payload(codec, self.publication.data)
        source = _payload(codec, prev.data)
        if target is None or source is None:
            return None
        cached = self._fossil
        if cached is not None and cached[0] is source and cached[1] is target:
            patch = cached[2]
        else:
            # Once per publication: JSON and Protobuf share it unless JSON was compacted.
            patch = fossil.delta(source, target)
            self._fossil = (source, target, patch)
        if len(patch) >= len(target):
            return None
        publication = dataclasses.replace(self.publication, data=patch, delta=True)
        return codec.encode_publication(self.channel, publication, delta=True)


def delta_chain(codec: Codec, publications: Sequence[Publication]) -> tuple[Publication, ...]:
    """Recovered publications for a delta subscribe reply (client-protocol §15).

    The first goes in full, each next as a fossil delta against the one before it (in full
    when the delta is not smaller). Payloads are taken as ``codec``'s clients get them.
    """
    chain: list[Publication] = []
    source: bytes | None = None
    for publication in publications:
        target = _payload(codec, publication.data)
        if target is None:
            chain.append(publication)  # not JSON: the reply encoder reports it
            source = None
            continue
        if source is not None:
            patch = fossil.delta(source, target)
            if len(patch) < len(target):
                chain.append(dataclasses.replace(publication, data=patch, delta=True))
                source = target
                continue
        chain.append(dataclasses.replace(publication, data=target, delta=False))
        source = target
    return tuple(chain)


class Hub:
    """Connections and subscriptions of this node."""

    def __init__(self, schedule_flush: Callable[[], None] = lambda: None) -> None:
        """``schedule_flush`` asks for a flush round soon (the node's flusher)."""
        self._channels: dict[str, _ChannelSubscribers] = {}
        self._clients: dict[str, Subscriber] = {}
        self._users: dict[str, list[Subscriber]] = {}
        self._dirty: list[_ChannelSubscribers] = []
        self._schedule_flush = schedule_flush
        self._batched = 0
        self.num_subscriptions = 0

    # ------------------------------------------------------------ connections

    def add_client(self, client: Subscriber) -> None:
        """Register a connected client."""
        self._clients[client.client_id] = client
        # A list per user: users mostly have one or two connections, and a one-element
        # list is a quarter of a one-entry dict (memory per connection matters at 100k).
        conns = self._users.get(client.user)
        if conns is None:
            self._users[client.user] = [client]
        elif client not in conns:
            conns.append(client)

    def remove_client(self, client: Subscriber) -> None:
        """Forget a client (its subscriptions must have been removed)."""
        self._clients.pop(client.client_id, None)
        conns = self._users.get(client.user)
        if conns is not None and client in conns:
            conns.remove(client)
            if not conns:
                del self._users[client.user]

    def client(self, client_id: str) -> Subscriber | None:
        """The connection with this id, if it is on this node."""
        return self._clients.get(client_id)

    def user_clients(self, user: str) -> list[Subscriber]:
        """Connections of ``user`` on this node."""
        return list(self._users.get(user, ()))

    def clients(self) -> Iterator[Subscriber]:
        """Every connection of this node."""
        return iter(list(self._clients.values()))

    @property
    def num_clients(self) -> int:
        """Connections on this node."""
        return len(self._clients)

    @property
    def num_users(self) -> int:
        """Distinct users connected to this node."""
        return len(self._users)

    @property
    def num_channels(self) -> int:
        """Channels with at least one subscriber on this node."""
        return len(self._channels)

    def channels(self) -> list[str]:
        """Channels with subscribers on this node."""
        return list(self._channels)

    def num_subscribers(self, channel: str) -> int:
        """Subscribers of ``channel`` on this node."""
        subs = self._channels.get(channel)
        return 0 if subs is None else subs.count

    # ---------------------------------------------------------- subscriptions

    def add_subscriber(
        self,
        channel: str,
        client: Subscriber,
        *,
        join_leave: bool,
        pending: bool = False,
        delta: bool = False,
        positioned: bool = False,
    ) -> bool:
        """Subscribe ``client``; True when it is the channel's first subscriber here.

        With ``pending``, the client gets publications one by one until
        :meth:`activate_subscriber`. With ``delta`` (fossil negotiated, client-protocol
        §15) its payloads are strings over JSON, and deltas once it has a base. A
        ``positioned`` one is told when the stream it follows has a gap
        (:meth:`advance_position`).
        """
        subs = self._channels.get(channel)
        first = subs is None
        if subs is None:
            subs = self._channels[channel] = _ChannelSubscribers()
        cid = client.client_id
        if cid in subs.pending or cid in subs.member:
            return False
        subs.count += 1
        self.num_subscriptions += 1
        if delta:
            subs.negotiated.add(cid)
        if pending:
            subs.pending[cid] = client
        else:
            self._activate(subs, client)
        if join_leave:
            subs.join_leave[cid] = client
        if positioned:
            subs.positioned[cid] = client
        return first

    def activate_subscriber(
        self, channel: str, client: Subscriber, position: StreamPosition | None = None
    ) -> None:
        """A pending subscriber's reply is queued: it joins the batch group.

        ``position`` is where a positioned subscriber is now (its reply and the merge of
        what it got meanwhile). Another epoch than the channel's means the stream was
        recreated under the subscribers already here without a publication telling them
        (``history_meta_ttl`` expiry): they lost their place.
        """
        subs = self._channels.get(channel)
        if subs is None or client.client_id not in subs.pending:
            return
        if position is not None:
            current = subs.position
            if current is None or current.epoch != position.epoch:
                subs.position = position
                if current is not None:
                    self._lose_position(channel, subs)  # it is still pending: not told
        del subs.pending[client.client_id]
        # What was batched before now was delivered to it one by one: write it out first.
        self._flush_channel(subs)
        self._activate(subs, client)

    @staticmethod
    def _activate(subs: _ChannelSubscribers, client: Subscriber) -> None:
        # A delta subscriber starts in full: its base is unknown here (§15).
        cid = client.client_id
        key = (client.codec, _Variant.FULL if cid in subs.negotiated else _Variant.PLAIN)
        group = subs.groups.get(key)
        if group is None:
            group = subs.groups[key] = {}
        group[cid] = client
        subs.member[cid] = key

    def remove_subscriber(self, channel: str, client: Subscriber) -> bool:
        """Unsubscribe ``client``; True when ``channel`` has no subscriber left here."""
        subs = self._channels.get(channel)
        if subs is None:
            return False
        cid = client.client_id
        if subs.pending.pop(cid, None) is None:
            key = subs.member.pop(cid, None)
            if key is None:
                return False
            group = subs.groups[key]
            del group[cid]
            if not group:
                del subs.groups[key]
        subs.negotiated.discard(cid)
        subs.join_leave.pop(cid, None)
        subs.positioned.pop(cid, None)
        subs.count -= 1
        self.num_subscriptions -= 1
        if subs.count == 0:
            del self._channels[channel]
            return True
        return False

    # ------------------------------------------------------------- positioning

    def position(self, channel: str) -> StreamPosition | None:
        """The stream position of ``channel``'s last publication fanned out here."""
        subs = self._channels.get(channel)
        return None if subs is None else subs.position

    def advance_position(self, channel: str, position: StreamPosition) -> None:
        """A publication at ``position`` is about to be fanned out (call it first).

        When it does not follow the last one (§13: a missing offset or a new epoch), the
        positioned active subscribers lose their place (see the module docstring).
        """
        subs = self._channels.get(channel)
        if subs is None:
            return
        current = subs.position
        subs.position = position
        if current is None or (
            position.epoch == current.epoch and position.offset == current.offset + 1
        ):
            return
        self._lose_position(channel, subs)

    def _lose_position(self, channel: str, subs: _ChannelSubscribers) -> None:
        if not subs.positioned:
            return
        # What they were sent before the gap is theirs: write it out first.
        self._flush_channel(subs)
        for cid, client in list(subs.positioned.items()):
            if cid not in subs.pending:
                client.insufficient_state(channel)

    # ---------------------------------------------------------------- fan-out

    def broadcast_publication(
        self,
        channel: str,
        publication: Publication,
        *,
        delta: bool = False,
        prev_publication: Publication | None = None,
    ) -> None:
        """Encode ``publication`` once per variant and batch it for the next flush round.

        Args:
            delta: the publication is marked for delta compression (§15).
            prev_publication: the channel's previous publication, the delta base.
        """
        subs = self._channels.get(channel)
        if subs is None:
            return
        if not subs.negotiated:
            self._broadcast_plain(subs, channel, publication)
            return
        encodings = _Encodings(channel, publication, delta, prev_publication)
        for key, group in list(subs.groups.items()):
            message = encodings.message(key, group.values())
            if message is not None:
                self._add_to_batch(subs, key, message)
        for cid, client in list(subs.pending.items()):
            variant = _Variant.FULL if cid in subs.negotiated else _Variant.PLAIN
            message = encodings.message((client.codec, variant), (client,))
            if message is not None:
                client.deliver_publication(channel, publication, message)

    def _broadcast_plain(
        self, subs: _ChannelSubscribers, channel: str, publication: Publication
    ) -> None:
        """:meth:`broadcast_publication` where nobody negotiated delta: the hot path."""
        encoded: dict[Codec, bytes] = {}
        for key, group in list(subs.groups.items()):
            codec = key[0]
            message = _encode_plain(codec, channel, publication, group.values())
            if message is not None:
                encoded[codec] = message
                self._add_to_batch(subs, key, message)
        for client in list(subs.pending.values()):
            codec = client.codec
            message = encoded.get(codec)
            if message is None:
                message = _encode_plain(codec, channel, publication, (client,))
                if message is None:
                    continue
                encoded[codec] = message
            client.deliver_publication(channel, publication, message)

    def _add_to_batch(self, subs: _ChannelSubscribers, key: _Group, message: bytes) -> None:
        """Queue an encoded publication for the next round (a channel is marked once)."""
        batch = subs.batch.get(key)
        if batch is None:
            batch = subs.batch[key] = []
            if len(subs.batch) == 1:
                self._mark_dirty(subs)
        batch.append(message)
        self._batched += 1

    def batched(self) -> int:
        """How many encoded publications were ever queued in channel batches."""
        return self._batched

    def _mark_dirty(self, subs: _ChannelSubscribers) -> None:
        if not self._dirty:
            self._schedule_flush()
        self._dirty.append(subs)

    def flush_channels(self) -> None:
        """Write every channel batch (the flush round calls it before flushing clients)."""
        dirty = self._dirty
        self._dirty = []
        for subs in dirty:
            self._flush_channel(subs)

    @staticmethod
    def _flush_channel(subs: _ChannelSubscribers) -> None:
        if not subs.batch:
            return
        batches = subs.batch
        subs.batch = {}
        promoted: list[_Group] | None = None
        for key, messages in batches.items():
            group = subs.groups.get(key)
            if not group:
                continue
            payload = key[0].join(messages)
            frames: FrameCache = {}
            for client in list(group.values()):
                client.deliver_batch(payload, frames)
            if key[1] is _Variant.FULL:
                promoted = [key] if promoted is None else [*promoted, key]
        for key in promoted or ():
            # They received a publication in full: the base of the next delta (§15).
            group = subs.groups.pop(key)
            ready_key = (key[0], _Variant.DELTA)
            ready = subs.groups.get(ready_key)
            if ready is None:
                ready = subs.groups[ready_key] = {}
            ready.update(group)
            for cid in group:
                subs.member[cid] = ready_key

    def _broadcast_push(self, channel: str, push: Push) -> None:
        subs = self._channels.get(channel)
        if subs is None or not subs.join_leave:
            return
        self._flush_channel(subs)
        encoded: dict[Codec, bytes] = {}
        for cid, client in list(subs.join_leave.items()):
            if cid in subs.pending:
                continue
            codec = client.codec
            message = encoded.get(codec)
            if message is None:
                message = encoded[codec] = codec.encode_push(push)
            client.deliver(message)

    def broadcast_join(self, channel: str, info: ClientInfo) -> None:
        """Queue a join push to the subscribers that want join/leave."""
        self._broadcast_push(channel, Push(channel=channel, body=Join(info=info)))

    def broadcast_leave(self, channel: str, info: ClientInfo) -> None:
        """Queue a leave push to the subscribers that want join/leave."""
        self._broadcast_push(channel, Push(channel=channel, body=Leave(info=info)))
