"""centrifuge-python event recorders shared by the integration tests.

Each SDK callback puts its context on a queue; tests await the next one under a timeout
(:func:`next_event`) rather than sleeping. Client-level queues include the server-side
subscription events (client-protocol.md §14).
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

from centrifuge import (
    ClientEventHandler,
    ConnectedContext,
    ConnectingContext,
    DisconnectedContext,
    ErrorContext,
    JoinContext,
    LeaveContext,
    PublicationContext,
    ServerJoinContext,
    ServerLeaveContext,
    ServerPublicationContext,
    ServerSubscribedContext,
    ServerUnsubscribedContext,
    SubscribedContext,
    SubscribingContext,
    SubscriptionErrorContext,
    SubscriptionEventHandler,
    UnsubscribedContext,
)

T = TypeVar("T")
TIMEOUT = 5.0
"""Seconds to await one SDK event; generous, a passing test waits milliseconds."""


async def next_event(queue: asyncio.Queue[T], timeout: float = TIMEOUT) -> T:
    """The next event of ``queue``, or fail after ``timeout`` seconds."""
    return await asyncio.wait_for(queue.get(), timeout)


class ClientEvents(ClientEventHandler):
    """Client-level SDK events (server-side subscriptions included), one queue per kind."""

    def __init__(self) -> None:
        self.connecting: asyncio.Queue[ConnectingContext] = asyncio.Queue()
        self.connected: asyncio.Queue[ConnectedContext] = asyncio.Queue()
        self.disconnected: asyncio.Queue[DisconnectedContext] = asyncio.Queue()
        self.errors: asyncio.Queue[ErrorContext] = asyncio.Queue()
        self.subscribed: asyncio.Queue[ServerSubscribedContext] = asyncio.Queue()
        self.unsubscribed: asyncio.Queue[ServerUnsubscribedContext] = asyncio.Queue()
        self.publications: asyncio.Queue[ServerPublicationContext] = asyncio.Queue()
        self.joins: asyncio.Queue[ServerJoinContext] = asyncio.Queue()
        self.leaves: asyncio.Queue[ServerLeaveContext] = asyncio.Queue()

    async def on_connecting(self, ctx: ConnectingContext) -> None:
        self.connecting.put_nowait(ctx)

    async def on_connected(self, ctx: ConnectedContext) -> None:
        self.connected.put_nowait(ctx)

    async def on_disconnected(self, ctx: DisconnectedContext) -> None:
        self.disconnected.put_nowait(ctx)

    async def on_error(self, ctx: ErrorContext) -> None:
        self.errors.put_nowait(ctx)

    async def on_subscribed(self, ctx: ServerSubscribedContext) -> None:
        self.subscribed.put_nowait(ctx)

    async def on_unsubscribed(self, ctx: ServerUnsubscribedContext) -> None:
        self.unsubscribed.put_nowait(ctx)

    async def on_publication(self, ctx: ServerPublicationContext) -> None:
        self.publications.put_nowait(ctx)

    async def on_join(self, ctx: ServerJoinContext) -> None:
        self.joins.put_nowait(ctx)

    async def on_leave(self, ctx: ServerLeaveContext) -> None:
        self.leaves.put_nowait(ctx)


class SubEvents(SubscriptionEventHandler):
    """Subscription-level SDK events, one queue per kind."""

    def __init__(self) -> None:
        self.subscribing: asyncio.Queue[SubscribingContext] = asyncio.Queue()
        self.subscribed: asyncio.Queue[SubscribedContext] = asyncio.Queue()
        self.unsubscribed: asyncio.Queue[UnsubscribedContext] = asyncio.Queue()
        self.publications: asyncio.Queue[PublicationContext] = asyncio.Queue()
        self.joins: asyncio.Queue[JoinContext] = asyncio.Queue()
        self.leaves: asyncio.Queue[LeaveContext] = asyncio.Queue()
        self.errors: asyncio.Queue[SubscriptionErrorContext] = asyncio.Queue()

    async def on_subscribing(self, ctx: SubscribingContext) -> None:
        self.subscribing.put_nowait(ctx)

    async def on_subscribed(self, ctx: SubscribedContext) -> None:
        self.subscribed.put_nowait(ctx)

    async def on_unsubscribed(self, ctx: UnsubscribedContext) -> None:
        self.unsubscribed.put_nowait(ctx)

    async def on_publication(self, ctx: PublicationContext) -> None:
        self.publications.put_nowait(ctx)

    async def on_join(self, ctx: JoinContext) -> None:
        self.joins.put_nowait(ctx)

    async def on_leave(self, ctx: LeaveContext) -> None:
        self.leaves.put_nowait(ctx)

    async def on_error(self, ctx: SubscriptionErrorContext) -> None:
        self.errors.put_nowait(ctx)
