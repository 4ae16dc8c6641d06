"""decide(): what an admitted subscription may do (channels-config.md §4.2)."""

from __future__ import annotations

from whirlwind.auth.tokens import SubscriptionOverride
from whirlwind.channels import ChannelRules
from whirlwind.client.subscription import Subscription, decide
from whirlwind.config.schema import ChannelConfig, NamespaceConfig
from whirlwind.protocol import messages as m

HISTORY = {"history_size": 10, "history_ttl": 60.0}


def rules(**options: object) -> ChannelRules:
    return ChannelRules(ChannelConfig(namespaces=(NamespaceConfig(name="ns", **options),)))  # type: ignore[arg-type]


def subscription(
    channel_rules: ChannelRules,
    *,
    req: m.SubscribeRequest | None = None,
    override: SubscriptionOverride | None = None,
) -> Subscription:
    resolved = channel_rules.resolve("ns:room")
    assert resolved is not None
    return decide(
        channel_rules,
        resolved,
        user="42",
        insecure=False,
        server_side=req is None,
        override=override or SubscriptionOverride(),
        chan_info=b"",
        req=req,
    )


def test_namespace_options_and_token_overrides() -> None:
    sub = subscription(rules(presence=True, join_leave=True, force_push_join_leave=True))
    assert (sub.presence, sub.emit_join_leave, sub.push_join_leave) == (True, True, True)
    sub = subscription(
        rules(presence=True, join_leave=True, force_push_join_leave=True),
        override=SubscriptionOverride(presence=False, join_leave=False),
    )
    # No join/leave emitted means none pushed either, whatever else says so.
    assert (sub.presence, sub.emit_join_leave, sub.push_join_leave) == (False, False, False)


def test_client_opt_ins_need_the_namespace_or_the_permission() -> None:
    asked = m.SubscribeRequest(channel="ns:room", positioned=True, recoverable=True)
    refused = subscription(rules(**HISTORY), req=asked)
    assert (refused.positioned, refused.recoverable) == (False, False)
    allowed = subscription(rules(allow_positioning=True, allow_recovery=True, **HISTORY), req=asked)
    assert (allowed.positioned, allowed.recoverable) == (True, True)
    by_history = subscription(rules(allow_history_for_subscriber=True, **HISTORY), req=asked)
    assert (by_history.positioned, by_history.recoverable) == (True, True)


def test_positioning_and_recovery_need_history() -> None:
    forced = subscription(
        rules(force_positioning=True, force_recovery=True), req=m.SubscribeRequest()
    )
    assert (forced.positioned, forced.recoverable) == (False, False)
    with_history = subscription(rules(force_recovery=True, **HISTORY), req=m.SubscribeRequest())
    # Recovery implies positioning.
    assert (with_history.positioned, with_history.recoverable) == (True, True)


def test_delta_needs_fossil_allowed_and_a_positioned_subscription() -> None:
    fossil = m.SubscribeRequest(delta="fossil", positioned=True)
    assert not subscription(rules(**HISTORY), req=fossil).delta
    assert not subscription(rules(allowed_delta_types=("fossil",)), req=fossil).delta
    both = rules(allowed_delta_types=("fossil",), allow_positioning=True, **HISTORY)
    assert subscription(both, req=fossil).delta
    assert not subscription(both, req=m.SubscribeRequest(positioned=True)).delta
