"""Namespace resolution and permission rules (channels-config.md §1.3, §4)."""

from __future__ import annotations

import pytest

from whirlwind import codes
from whirlwind.channels import ChannelRules
from whirlwind.config.schema import ChannelConfig, ChannelOptions, NamespaceConfig

RULES = ChannelRules(
    ChannelConfig(
        without_namespace=ChannelOptions(allow_subscribe_for_client=True),
        namespaces=(
            NamespaceConfig(name="chat", allow_subscribe_for_client=True, presence=True),
            NamespaceConfig(name="dialogs", allow_user_limited_channels=True),
            NamespaceConfig(name="mine", allow_client_limited_channels=True),
            NamespaceConfig(
                name="anon", allow_subscribe_for_client=True, allow_subscribe_for_anonymous=True
            ),
            NamespaceConfig(name="rx", channel_regex="^[a-z]+$"),
            NamespaceConfig(
                name="pub",
                allow_publish_for_subscriber=True,
                allow_history_for_client=True,
                allow_presence_for_subscriber=True,
                history_size=10,
                history_ttl=60.0,
            ),
        ),
    )
)


@pytest.mark.parametrize(
    ("channel", "namespace", "rest"),
    [
        ("news", None, "news"),
        ("chat:room:1", "chat", "room:1"),
        ("$chat:secret", "chat", "secret"),
        ("$secret", None, "$secret"),
        ("dialogs:d#42,43", "dialogs", "d#42,43"),
        ("#42", None, "#42"),
    ],
)
def test_resolution(channel: str, namespace: str | None, rest: str) -> None:
    resolved = RULES.resolve(channel)
    assert resolved is not None
    assert (resolved.namespace, resolved.rest) == (namespace, rest)


def test_unknown_namespace() -> None:
    assert RULES.resolve("xxx:hello") is None


def test_names() -> None:
    ok = RULES.resolve("news")
    assert ok is not None and RULES.check_name(ok) is None
    non_ascii = RULES.resolve("новости")
    assert non_ascii is not None and RULES.check_name(non_ascii) == codes.ERROR_BAD_REQUEST
    too_long = RULES.resolve("x" * 256)
    assert too_long is not None and RULES.check_name(too_long) == codes.ERROR_BAD_REQUEST
    rx_ok, rx_bad = RULES.resolve("rx:abc"), RULES.resolve("rx:ab1")
    assert rx_ok is not None and RULES.check_name(rx_ok) is None
    assert rx_bad is not None and RULES.check_name(rx_bad) == codes.ERROR_BAD_REQUEST


def _can_subscribe(channel: str, user: str = "42", client: str = "c1", insecure: bool = False):
    resolved = RULES.resolve(channel)
    assert resolved is not None
    return RULES.can_subscribe(resolved, user=user, client_id=client, insecure=insecure)


def test_subscribe_permissions() -> None:
    assert _can_subscribe("news")
    assert not _can_subscribe("news", user="")
    assert _can_subscribe("anon:x", user="")
    assert not _can_subscribe("$news")
    assert not _can_subscribe("$news", insecure=True)
    assert not _can_subscribe("rx:abc")
    assert _can_subscribe("rx:abc", insecure=True)


def test_user_limited() -> None:
    assert _can_subscribe("dialogs:d#42,43", user="42")
    assert _can_subscribe("dialogs:d#42,43", user="43")
    assert not _can_subscribe("dialogs:d#42,43", user="44")
    # Never falls back to insecure or allow_subscribe_for_client (§4.2).
    assert not _can_subscribe("dialogs:d#42,43", user="44", insecure=True)
    # Without allow_user_limited_channels, # is an ordinary character.
    assert _can_subscribe("chat:d#44", user="42")


def test_client_limited() -> None:
    assert _can_subscribe("mine:inbox&c1", client="c1")
    assert not _can_subscribe("mine:inbox&c1", client="c2")
    assert _can_subscribe("chat:inbox&c1", client="c2")  # not opted in


def test_publish_presence_history_permissions() -> None:
    resolved = RULES.resolve("pub:x")
    assert resolved is not None
    assert RULES.can_publish(resolved, user="u", subscribed=True, insecure=False)
    assert not RULES.can_publish(resolved, user="u", subscribed=False, insecure=False)
    assert not RULES.can_publish(resolved, user="", subscribed=True, insecure=False)
    assert RULES.can_publish(resolved, user="", subscribed=False, insecure=True)
    assert RULES.can_history(resolved, user="u", subscribed=False, insecure=False)
    assert not RULES.can_history(resolved, user="", subscribed=False, insecure=False)
    assert RULES.can_presence(resolved, user="u", subscribed=True, insecure=False)
    assert not RULES.can_presence(resolved, user="u", subscribed=False, insecure=False)


def test_personal_channel() -> None:
    assert RULES.personal_channel("", "42") == "#42"
    assert RULES.personal_channel("dialogs", "42") == "dialogs:#42"


def test_data_format() -> None:
    resolved = RULES.resolve("news")
    assert resolved is not None
    assert RULES.check_data(resolved, b"") == codes.ERROR_BAD_REQUEST
    assert RULES.check_data(resolved, b"{}") is None
