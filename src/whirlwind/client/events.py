"""Events the client state machine hands to its driver: work only the driver can do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeAlias

from whirlwind.protocol.messages import Command


@dataclass(slots=True, init=False)
class CommandReceived:
    """Perform ``command`` (connect, subscribe, publish, …) and report back to the protocol.

    The protocol processes one command at a time, in arrival order (client-protocol.md §1.2:
    "Whirlwind MUST process the commands of a frame strictly in order"): the next one is
    handed out only after the driver called ``command_succeeded``/``command_failed`` (or one
    of the specialised ``*_succeeded`` methods) for this one.

    Immutable: a ``Final`` field and a written ``__init__``, which mypyc compiles (one is
    built per command; see protocol/messages.py).
    """

    command: Final[Command]

    def __init__(self, command: Command) -> None:
        self.command = command


@dataclass(frozen=True, slots=True)
class SubscriptionExpired:
    """A client-side subscription expired; the protocol already sent unsubscribe 2501."""

    channel: str


@dataclass(frozen=True, slots=True)
class PresenceDue:
    """Time to refresh this client's presence in its channels (``presence_update_interval``)."""


@dataclass(frozen=True, slots=True)
class PositionCheckDue:
    """Time to compare the stream top of these positioned channels with what was sent.

    The driver reports each outcome with ``ClientProtocol.position_checked``
    (``client.channel_position_check_delay``, client-protocol.md §13).
    """

    channels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class InsufficientState:
    """A client-side subscription lost its place in the stream; the protocol already sent
    unsubscribe 2500 (the SDK resubscribes and recovers): the driver leaves the channel."""

    channel: str


ClientEvent: TypeAlias = (
    CommandReceived | SubscriptionExpired | PresenceDue | PositionCheckDue | InsufficientState
)
