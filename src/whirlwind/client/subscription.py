"""What a subscription may do once admitted (channels-config.md §4.2 "after admission"),
sans I/O: the namespace's options, the token's overrides and what the client asked for
become one :class:`Subscription`. The client driver keeps one per subscribed channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from whirlwind.channels import ChannelRules, ResolvedChannel
from whirlwind.protocol import messages as m

if TYPE_CHECKING:  # auth/tokens.py fetches JWKS, so it is not sans-I/O
    from whirlwind.auth.tokens import SubscriptionOverride


@dataclass(slots=True, init=False)
class Subscription:
    """What this connection does in a channel it is subscribed to.

    The ``__init__`` is written so that mypyc compiles it (see protocol/messages.py).
    """

    resolved: ResolvedChannel
    server_side: bool
    presence: bool
    emit_join_leave: bool
    push_join_leave: bool
    positioned: bool
    recoverable: bool
    chan_info: bytes
    delta: bool
    """Fossil delta compression negotiated (client-protocol §15)."""
    joined: bool
    """Presence added and join published: a leave is due when it ends."""

    def __init__(
        self,
        *,
        resolved: ResolvedChannel,
        server_side: bool,
        presence: bool,
        emit_join_leave: bool,
        push_join_leave: bool,
        positioned: bool,
        recoverable: bool,
        chan_info: bytes,
        delta: bool = False,
    ) -> None:
        self.resolved = resolved
        self.server_side = server_side
        self.presence = presence
        self.emit_join_leave = emit_join_leave
        self.push_join_leave = push_join_leave
        self.positioned = positioned
        self.recoverable = recoverable
        self.chan_info = chan_info
        self.delta = delta
        self.joined = False


def _choose(override: bool | None, default: bool) -> bool:
    return default if override is None else override


def decide(
    rules: ChannelRules,
    resolved: ResolvedChannel,
    *,
    user: str,
    insecure: bool,
    server_side: bool,
    override: SubscriptionOverride,
    chan_info: bytes,
    req: m.SubscribeRequest | None = None,
) -> Subscription:
    """The subscription's options; ``req`` is None for a server-side subscription.

    A client's opt-ins (join/leave pushes, positioning, recovery, delta) count only where
    the namespace allows them or the user may read history/presence anyway; positioning
    and recovery need history; delta needs a positioned or recoverable subscription.
    """
    o = resolved.options
    presence = _choose(override.presence, o.presence)
    emit = _choose(override.join_leave, o.join_leave)
    push = _choose(override.force_push_join_leave, o.force_push_join_leave)
    positioned = _choose(override.force_positioning, o.force_positioning)
    recoverable = _choose(override.force_recovery, o.force_recovery)
    if req is not None:
        history_ok = rules.can_history(resolved, user=user, subscribed=True, insecure=insecure)
        presence_ok = rules.can_presence(resolved, user=user, subscribed=True, insecure=insecure)
        push = push or (req.join_leave and emit and presence_ok)
        positioned = positioned or (req.positioned and (o.allow_positioning or history_ok))
        recoverable = recoverable or (req.recoverable and (o.allow_recovery or history_ok))
    if not resolved.history_enabled:
        positioned = recoverable = False
    # Client-protocol §15: fossil only where the namespace allows it and, as in
    # Centrifugo, on a positioned or recoverable subscription (history on).
    delta = (
        req is not None
        and req.delta == "fossil"
        and "fossil" in o.allowed_delta_types
        and (positioned or recoverable)
    )
    return Subscription(
        resolved=resolved,
        server_side=server_side,
        presence=presence,
        emit_join_leave=emit,
        push_join_leave=push and emit,
        positioned=positioned or recoverable,
        recoverable=recoverable,
        chan_info=chan_info,
        delta=delta,
    )
