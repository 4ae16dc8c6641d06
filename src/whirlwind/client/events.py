"""Events the client state machine hands to its driver: work only the driver can do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from whirlwind.protocol.messages import Command


@dataclass(frozen=True, slots=True)
class CommandReceived:
    """Perform ``command`` (connect, subscribe, publish, …) and report back to the protocol.

    The protocol processes one command at a time, in arrival order (client-protocol.md §1.2:
    "Whirlwind MUST process the commands of a frame strictly in order"): the next one is
    handed out only after the driver called ``command_succeeded``/``command_failed`` (or one
    of the specialised ``*_succeeded`` methods) for this one.
    """

    command: Command


@dataclass(frozen=True, slots=True)
class SubscriptionExpired:
    """A client-side subscription expired; the protocol already sent unsubscribe 2501."""

    channel: str


@dataclass(frozen=True, slots=True)
class PresenceDue:
    """Time to refresh this client's presence in its channels (``presence_update_interval``)."""


ClientEvent: TypeAlias = CommandReceived | SubscriptionExpired | PresenceDue
