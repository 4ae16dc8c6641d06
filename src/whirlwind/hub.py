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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from whirlwind import codes
from whirlwind.codes import Disconnect
from whirlwind.protocol.base import Codec
from whirlwind.protocol.json_codec import json_payload
from whirlwind.protocol.messages import ClientInfo, Join, Leave, Publication, Push

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


@dataclass(slots=True)
class _ChannelSubscribers:
    by_codec: dict[Codec, dict[str, Subscriber]] = field(default_factory=dict)
    """Active subscribers, grouped by codec: the batch goes to them."""
    pending: dict[str, Subscriber] = field(default_factory=dict)
    """Subscribers whose subscribe is in progress."""
    join_leave: dict[str, Subscriber] = field(default_factory=dict)
    batch: dict[Codec, list[bytes]] = field(default_factory=dict)
    """Encoded publications not yet written, per codec."""
    count: int = 0


class Hub:
    """Connections and subscriptions of this node."""

    def __init__(self, schedule_flush: Callable[[], None] = lambda: None) -> None:
        """``schedule_flush`` asks for a flush round soon (the node's flusher)."""
        self._channels: dict[str, _ChannelSubscribers] = {}
        self._clients: dict[str, Subscriber] = {}
        self._users: dict[str, dict[str, Subscriber]] = {}
        self._dirty: list[_ChannelSubscribers] = []
        self._schedule_flush = schedule_flush
        self.num_subscriptions = 0

    # ------------------------------------------------------------ connections

    def add_client(self, client: Subscriber) -> None:
        """Register a connected client."""
        self._clients[client.client_id] = client
        self._users.setdefault(client.user, {})[client.client_id] = client

    def remove_client(self, client: Subscriber) -> None:
        """Forget a client (its subscriptions must have been removed)."""
        self._clients.pop(client.client_id, None)
        conns = self._users.get(client.user)
        if conns is not None:
            conns.pop(client.client_id, None)
            if not conns:
                del self._users[client.user]

    def client(self, client_id: str) -> Subscriber | None:
        """The connection with this id, if it is on this node."""
        return self._clients.get(client_id)

    def user_clients(self, user: str) -> list[Subscriber]:
        """Connections of ``user`` on this node."""
        return list(self._users.get(user, {}).values())

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
        self, channel: str, client: Subscriber, *, join_leave: bool, pending: bool = False
    ) -> bool:
        """Subscribe ``client``; True when it is the channel's first subscriber here.

        With ``pending``, the client gets publications one by one until
        :meth:`activate_subscriber`.
        """
        subs = self._channels.get(channel)
        first = subs is None
        if subs is None:
            subs = self._channels[channel] = _ChannelSubscribers()
        cid = client.client_id
        group = subs.by_codec.get(client.codec)
        if cid in subs.pending or (group is not None and cid in group):
            return False
        subs.count += 1
        self.num_subscriptions += 1
        if pending:
            subs.pending[cid] = client
        else:
            self._activate(subs, client)
        if join_leave:
            subs.join_leave[cid] = client
        return first

    def activate_subscriber(self, channel: str, client: Subscriber) -> None:
        """A pending subscriber's reply is queued: it joins the batch group."""
        subs = self._channels.get(channel)
        if subs is None or subs.pending.pop(client.client_id, None) is None:
            return
        # What was batched before now was delivered to it one by one: write it out first.
        self._flush_channel(subs)
        self._activate(subs, client)

    @staticmethod
    def _activate(subs: _ChannelSubscribers, client: Subscriber) -> None:
        group = subs.by_codec.get(client.codec)
        if group is None:
            group = subs.by_codec[client.codec] = {}
        group[client.client_id] = client

    def remove_subscriber(self, channel: str, client: Subscriber) -> bool:
        """Unsubscribe ``client``; True when ``channel`` has no subscriber left here."""
        subs = self._channels.get(channel)
        if subs is None:
            return False
        cid = client.client_id
        if subs.pending.pop(cid, None) is None:
            group = subs.by_codec.get(client.codec)
            if group is None or group.pop(cid, None) is None:
                return False
            if not group:
                del subs.by_codec[client.codec]
        subs.join_leave.pop(cid, None)
        subs.count -= 1
        self.num_subscriptions -= 1
        if subs.count == 0:
            del self._channels[channel]
            return True
        return False

    # ---------------------------------------------------------------- fan-out

    def broadcast_publication(self, channel: str, publication: Publication) -> None:
        """Encode ``publication`` once per codec and batch it for the next flush round."""
        subs = self._channels.get(channel)
        if subs is None:
            return
        encoded: dict[Codec, bytes] = {}
        for codec, group in list(subs.by_codec.items()):
            message = self._encode(codec, channel, publication, group.values())
            if message is not None:
                encoded[codec] = message
                batch = subs.batch.get(codec)
                if batch is None:
                    batch = subs.batch[codec] = []
                    if len(subs.batch) == 1:
                        self._mark_dirty(subs)
                batch.append(message)
        for client in list(subs.pending.values()):
            codec = client.codec
            message = encoded.get(codec)
            if message is None:
                message = self._encode(codec, channel, publication, (client,))
                if message is None:
                    continue
                encoded[codec] = message
            client.deliver_publication(channel, publication, message)

    @staticmethod
    def _encode(
        codec: Codec, channel: str, publication: Publication, clients: object
    ) -> bytes | None:
        if not codec.binary and publication.data:
            # Client-protocol §3: a JSON client cannot receive a non-JSON payload (binary
            # from a Protobuf publisher): Centrifugo closes it with 3506.
            data = json_payload(publication.data)
            if data is None:
                for client in list(clients):  # type: ignore[call-overload]
                    client.disconnect(codes.DISCONNECT_INAPPROPRIATE_PROTOCOL)
                return None
            if data is not publication.data:
                publication = dataclasses.replace(publication, data=data)
        return codec.encode_publication(channel, publication)

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
        for codec, messages in batches.items():
            group = subs.by_codec.get(codec)
            if not group:
                continue
            payload = codec.join(messages)
            frames: FrameCache = {}
            for client in list(group.values()):
                client.deliver_batch(payload, frames)

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
