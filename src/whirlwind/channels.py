"""Channel names, namespaces and the permission rules of client operations, sans I/O.

Rules (channels-config.md §1 and §4):

* Namespace resolution (§1.3): strip the private prefix, split at the **first** namespace
  boundary; no boundary → ``channel.without_namespace``; an unknown namespace → 102.
* Names (§1.1): ASCII only unless the namespace sets ``channel_regex`` (matched on the rest),
  at most ``channel.max_length`` bytes → else 107.
* Subscribe (§4.2): ``$`` channels need a subscription token (even insecure); a token admits;
  user-limited ``#`` channels admit listed users only and never fall back to
  ``allow_subscribe_for_client``; then ``allow_subscribe_for_client`` (+ anonymous flag);
  then ``client.insecure``; else 103.
* Client-limited channels (Whirlwind extension, Centrifugo v1 ``client_channel_boundary``):
  with ``allow_client_limited_channels``, ``name&<client id>`` admits only that client.
* Publish, presence, history (§4.5): the ``allow_*_for_client`` / ``_for_subscriber`` /
  ``_for_anonymous`` flags, then insecure, else 103; presence/history disabled → 108.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import orjson

from whirlwind import codes
from whirlwind.codes import Error
from whirlwind.config.schema import ChannelConfig, ChannelOptions


@dataclass(slots=True, init=False)
class ResolvedChannel:
    """A channel with the options that govern it.

    Immutable: ``Final`` fields and a written ``__init__``, which mypyc compiles (one is
    built per subscribe and publish; see protocol/messages.py).
    """

    name: Final[str]
    namespace: Final[str | None]
    rest: Final[str]
    options: Final[ChannelOptions]
    history_meta_ttl: Final[float]
    """Effective ``history_meta_ttl`` (a namespace's 0 means the global one)."""
    publication_data_format: Final[str]
    """Effective ``publication_data_format``."""

    def __init__(
        self,
        name: str,
        namespace: str | None,
        rest: str,
        options: ChannelOptions,
        history_meta_ttl: float,
        publication_data_format: str,
    ) -> None:
        self.name = name
        self.namespace = namespace
        self.rest = rest
        self.options = options
        self.history_meta_ttl = history_meta_ttl
        self.publication_data_format = publication_data_format

    @property
    def history_enabled(self) -> bool:
        """History needs both ``history_size`` and ``history_ttl`` (§3)."""
        return self.options.history_size > 0 and self.options.history_ttl > 0


class ChannelRules:
    """Namespace lookup and permission decisions for one channel configuration."""

    def __init__(self, config: ChannelConfig) -> None:
        self.config = config
        self._namespaces: dict[str, ChannelOptions] = {ns.name: ns for ns in config.namespaces}
        self._regexes: dict[str, re.Pattern[str]] = {}
        for ns in (config.without_namespace, *config.namespaces):
            if ns.channel_regex:
                self._regexes[ns.channel_regex] = re.compile(ns.channel_regex)

    def resolve(self, channel: str) -> ResolvedChannel | None:
        """Find the namespace of ``channel``; None when it is not configured (→ 102)."""
        config = self.config
        stripped = channel
        prefix = config.private_prefix
        if prefix and stripped.startswith(prefix):
            stripped = stripped[len(prefix) :]
        boundary = config.namespace_boundary
        namespace: str | None = None
        rest = channel
        if boundary and boundary in stripped:
            namespace, _, rest = stripped.partition(boundary)
            options = self._namespaces.get(namespace)
            if options is None:
                return None
        else:
            options = config.without_namespace
        meta_ttl = options.history_meta_ttl or config.history_meta_ttl
        data_format = options.publication_data_format or config.publication_data_format
        return ResolvedChannel(channel, namespace, rest, options, meta_ttl, data_format)

    def check_name(self, resolved: ResolvedChannel) -> Error | None:
        """Validate a channel name for client-side operations (§1.1): 107 when invalid."""
        if len(resolved.name.encode()) > self.config.max_length:
            return codes.ERROR_BAD_REQUEST
        regex = resolved.options.channel_regex
        if regex:
            if self._regexes[regex].fullmatch(resolved.rest) is None:
                return codes.ERROR_BAD_REQUEST
        elif not resolved.name.isascii():
            return codes.ERROR_BAD_REQUEST
        return None

    def personal_channel(self, namespace: str, user: str) -> str:
        """The personal channel of ``user`` (§4.6): ``<ns>:#<user>`` or ``#<user>``."""
        channel = f"{self.config.user_boundary}{user}"
        if namespace:
            return f"{namespace}{self.config.namespace_boundary}{channel}"
        return channel

    def is_private(self, channel: str) -> bool:
        """Whether ``channel`` has the private prefix (§4.4)."""
        prefix = self.config.private_prefix
        return bool(prefix) and channel.startswith(prefix)

    def is_user_limited(self, resolved: ResolvedChannel) -> bool:
        """Whether the ``#`` rule applies to ``resolved`` (§4.3)."""
        boundary = self.config.user_boundary
        return (
            resolved.options.allow_user_limited_channels
            and bool(boundary)
            and boundary in resolved.name
        )

    def user_allowed(self, resolved: ResolvedChannel, user: str) -> bool:
        """Whether ``user`` is listed after the last ``#`` (§4.3; ``news#`` admits "")."""
        users = resolved.name.rsplit(self.config.user_boundary, 1)[1]
        return user in users.split(self.config.user_separator)

    def is_client_limited(self, resolved: ResolvedChannel) -> bool:
        """Whether the ``&`` rule applies (Whirlwind: opt-in per namespace)."""
        boundary = self.config.client_boundary
        return (
            resolved.options.allow_client_limited_channels
            and bool(boundary)
            and boundary in resolved.name
        )

    def client_allowed(self, resolved: ResolvedChannel, client_id: str) -> bool:
        """Whether ``client_id`` is the one after the last ``&``."""
        return resolved.name.rsplit(self.config.client_boundary, 1)[1] == client_id

    # ------------------------------------------------------------ permissions

    def can_subscribe(
        self, resolved: ResolvedChannel, *, user: str, client_id: str, insecure: bool
    ) -> bool:
        """Subscribe admission without a subscription token (§4.2 steps 3, 5, 8–10)."""
        if self.is_private(resolved.name):
            return False
        if self.is_user_limited(resolved):
            return self.user_allowed(resolved, user)
        if self.is_client_limited(resolved):
            return self.client_allowed(resolved, client_id)
        options = resolved.options
        if options.allow_subscribe_for_client and (user or options.allow_subscribe_for_anonymous):
            return True
        return insecure

    def can_publish(
        self, resolved: ResolvedChannel, *, user: str, subscribed: bool, insecure: bool
    ) -> bool:
        """Client publish permission (§4.5)."""
        o = resolved.options
        anon_ok = bool(user) or o.allow_publish_for_anonymous
        if o.allow_publish_for_client and anon_ok:
            return True
        if o.allow_publish_for_subscriber and subscribed and anon_ok:
            return True
        return insecure

    def can_presence(
        self, resolved: ResolvedChannel, *, user: str, subscribed: bool, insecure: bool
    ) -> bool:
        """Client presence / presence_stats permission (§4.5)."""
        o = resolved.options
        anon_ok = bool(user) or o.allow_presence_for_anonymous
        if o.allow_presence_for_client and anon_ok:
            return True
        if o.allow_presence_for_subscriber and subscribed and anon_ok:
            return True
        return insecure

    def can_history(
        self, resolved: ResolvedChannel, *, user: str, subscribed: bool, insecure: bool
    ) -> bool:
        """Client history permission (§4.5)."""
        o = resolved.options
        anon_ok = bool(user) or o.allow_history_for_anonymous
        if o.allow_history_for_client and anon_ok:
            return True
        if o.allow_history_for_subscriber and subscribed and anon_ok:
            return True
        return insecure

    @staticmethod
    def check_data(resolved: ResolvedChannel, data: bytes) -> Error | None:
        """``publication_data_format`` (§3): "" rejects empty data; json/json_object/binary."""
        fmt = resolved.publication_data_format
        if fmt == "binary":
            return None
        if not data:
            return codes.ERROR_BAD_REQUEST
        if fmt in ("json", "json_object"):
            try:
                value = orjson.loads(data)
            except orjson.JSONDecodeError:
                return codes.ERROR_BAD_REQUEST
            if fmt == "json_object" and not isinstance(value, dict):
                return codes.ERROR_BAD_REQUEST
        return None
