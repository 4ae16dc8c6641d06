"""Hub: this node's connections and who is subscribed to what; encode-once fan-out.

Mirrors ``centrifugal/centrifuge hub.go``. A publication is encoded once per protocol
variant present among the channel's subscribers and the same bytes are queued to each of
them; nothing here awaits a subscriber (STYLE.md §7). Join/leave pushes go only to the
subscribers that asked for them (client-protocol.md §5.2, channels-config.md §3
``force_push_join_leave``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from whirlwind import codes
from whirlwind.codes import Disconnect
from whirlwind.protocol.base import Codec
from whirlwind.protocol.json_codec import json_payload
from whirlwind.protocol.messages import ClientInfo, Join, Leave, Publication, Push


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
        """Queue an encoded message; never blocks."""
        ...

    def deliver_publication(self, channel: str, publication: Publication, message: bytes) -> None:
        """Queue an encoded publication (the subscriber may hold it during its subscribe)."""
        ...

    def disconnect(self, disconnect: Disconnect) -> None:
        """Close the connection."""
        ...


@dataclass(slots=True)
class _ChannelSubscribers:
    by_codec: dict[Codec, dict[str, Subscriber]] = field(default_factory=dict)
    join_leave: dict[str, Subscriber] = field(default_factory=dict)
    count: int = 0


class Hub:
    """Connections and subscriptions of this node."""

    def __init__(self) -> None:
        self._channels: dict[str, _ChannelSubscribers] = {}
        self._clients: dict[str, Subscriber] = {}
        self._users: dict[str, dict[str, Subscriber]] = {}
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

    def add_subscriber(self, channel: str, client: Subscriber, *, join_leave: bool) -> bool:
        """Subscribe ``client`` to ``channel``; True when it is the channel's first here."""
        subs = self._channels.get(channel)
        first = subs is None
        if subs is None:
            subs = self._channels[channel] = _ChannelSubscribers()
        group = subs.by_codec.setdefault(client.codec, {})
        if client.client_id in group:
            return False
        group[client.client_id] = client
        subs.count += 1
        self.num_subscriptions += 1
        if join_leave:
            subs.join_leave[client.client_id] = client
        return first

    def remove_subscriber(self, channel: str, client: Subscriber) -> bool:
        """Unsubscribe ``client``; True when ``channel`` has no subscriber left here."""
        subs = self._channels.get(channel)
        if subs is None:
            return False
        group = subs.by_codec.get(client.codec)
        if group is None or group.pop(client.client_id, None) is None:
            return False
        if not group:
            del subs.by_codec[client.codec]
        subs.join_leave.pop(client.client_id, None)
        subs.count -= 1
        self.num_subscriptions -= 1
        if subs.count == 0:
            del self._channels[channel]
            return True
        return False

    # ---------------------------------------------------------------- fan-out

    def broadcast_publication(self, channel: str, publication: Publication) -> None:
        """Queue ``publication`` to every subscriber of ``channel`` here, encoded once."""
        subs = self._channels.get(channel)
        if subs is None:
            return
        for codec, group in list(subs.by_codec.items()):
            pub = publication
            if not codec.binary and publication.data:
                # Client-protocol §3: a JSON client cannot receive a non-JSON payload
                # (binary from a Protobuf publisher): Centrifugo closes it with 3506.
                data = json_payload(publication.data)
                if data is None:
                    for client in list(group.values()):
                        client.disconnect(codes.DISCONNECT_INAPPROPRIATE_PROTOCOL)
                    continue
                if data is not publication.data:
                    pub = dataclasses.replace(publication, data=data)
            message = codec.encode_publication(channel, pub)
            for client in list(group.values()):
                client.deliver_publication(channel, publication, message)

    def _broadcast_push(self, channel: str, push: Push) -> None:
        subs = self._channels.get(channel)
        if subs is None or not subs.join_leave:
            return
        encoded: dict[Codec, bytes] = {}
        for client in list(subs.join_leave.values()):
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
