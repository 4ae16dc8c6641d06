"""The GRPC front of the server API: ``centrifugal.centrifugo.api.CentrifugoApi`` (§12).

A thin adapter around :class:`~whirlwind.api.executor.Executor`, like the HTTP front: it
authenticates, converts Protobuf messages to the executor's dataclasses and back, and maps
errors. It holds no method logic. Rules (server-api.md):

- §12.3: with ``grpc_api.key`` set, every call must carry metadata ``authorization`` whose
  first value is exactly ``apikey <KEY>``; otherwise ``UNAUTHENTICATED`` "unauthenticated".
- §12.1: ``XRequest`` → ``XResponse{error, result}``; an API error travels in ``error`` with
  status OK. ``Batch`` → ``BatchResponse{replies}``, each reply ``error`` or the field named
  after the command's method. PRO and v6.8 RPCs answer ``UNIMPLEMENTED``.
- §8: in transport error mode (``grpc_api.error_mode: transport`` or metadata
  ``x-centrifugo-error-mode: transport``) an API error fails the call with the GRPC status
  of §6, message = error message, and one ``centrifugal.centrifugo.api.Error`` detail.
  Batch replies and per-channel broadcast errors are never turned into statuses.
- A request the executor rejects is its API error (107…), never an escaping exception. The
  executor logs its own unexpected failures and answers 100; a failure of the Protobuf
  mapping is logged here, once, on ``whirlwind.api``, and answered with 100 too.
"""

from __future__ import annotations

import hmac
import importlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from whirlwind.api import api_pb2
from whirlwind.api.executor import ERROR_BAD_REQUEST, ERROR_INTERNAL, APIError, Executor
from whirlwind.api.protobuf_mapping import decode, encode
from whirlwind.api.types import METHODS
from whirlwind.config.schema import GRPCAPIConfig, TLSConfig
from whirlwind.errors import ConfigError
from whirlwind.log import api_logger as logger
from whirlwind.tls import load_pem

__all__ = ["PRO_RPCS", "RPCS", "SERVICE", "GRPCAPIServer", "server_credentials"]

SERVICE = "centrifugal.centrifugo.api.CentrifugoApi"

RPCS: Mapping[str, str] = {
    "Batch": "batch",
    "Publish": "publish",
    "Broadcast": "broadcast",
    "Subscribe": "subscribe",
    "Unsubscribe": "unsubscribe",
    "Disconnect": "disconnect",
    "Presence": "presence",
    "PresenceStats": "presence_stats",
    "History": "history",
    "HistoryRemove": "history_remove",
    "Info": "info",
    "RPC": "rpc",
    "Refresh": "refresh",
    "Channels": "channels",
}
"""RPC name → executor method: one row per method the executor serves."""

PRO_RPCS: frozenset[str] = frozenset(
    method.name
    for method in api_pb2.DESCRIPTOR.services_by_name["CentrifugoApi"].methods
    if method.name not in RPCS
)
"""RPCs declared for the service's shape, answered with ``UNIMPLEMENTED`` (§10, §12.1)."""

TRANSPORT_STATUS: Mapping[int, grpc.StatusCode] = {
    102: grpc.StatusCode.NOT_FOUND,
    104: grpc.StatusCode.NOT_FOUND,
    107: grpc.StatusCode.INVALID_ARGUMENT,
    108: grpc.StatusCode.INVALID_ARGUMENT,
    112: grpc.StatusCode.OUT_OF_RANGE,
    113: grpc.StatusCode.ALREADY_EXISTS,
}
"""Transport error mode: API error code → GRPC status (§6); any other code is INTERNAL."""

_STATUS_DETAILS_KEY = "grpc-status-details-bin"


def server_credentials(tls: TLSConfig, key: str = "grpc_api.tls") -> grpc.ServerCredentials:
    """Server TLS credentials; ``client_ca_pem`` turns on mutual TLS."""
    pair = (load_pem(tls.key_pem, f"{key}.key_pem"), load_pem(tls.cert_pem, f"{key}.cert_pem"))
    client_ca = load_pem(tls.client_ca_pem, f"{key}.client_ca_pem") if tls.client_ca_pem else None
    return grpc.ssl_server_credentials(
        [pair], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _status_details(status: grpc.StatusCode, error: APIError) -> bytes:
    """A serialized ``google.rpc.Status`` whose one detail is the API ``Error`` (§8).

    ``google.rpc.Status`` is ``{int32 code = 1; string message = 2; repeated Any details =
    3}``; it is written by hand to need no googleapis package.
    """
    detail = any_pb2.Any()
    detail.Pack(api_pb2.Error(code=error.code, message=error.message))
    packed: bytes = detail.SerializeToString()
    message = error.message.encode()
    code = int(status.value[0])
    return (
        b"\x08"
        + _varint(code)
        + b"\x12"
        + _varint(len(message))
        + message
        + b"\x1a"
        + _varint(len(packed))
        + packed
    )


def _metadata(context: grpc.aio.ServicerContext[Any, Any], key: str) -> str | None:
    """The first value of metadata ``key`` (keys arrive lower-cased)."""
    for name, value in context.invocation_metadata() or ():
        if name == key:
            return value.decode(errors="replace") if isinstance(value, bytes) else value
    return None


Behavior = Callable[[Message, "grpc.aio.ServicerContext[Any, Any]"], Awaitable[Message]]


class GRPCAPIServer:
    """A ``grpc.aio`` server for ``grpc_api`` in front of ``executor``.

    Args:
        executor: the one executor shared with the HTTP front.
        config: ``grpc_api``.
    """

    def __init__(self, executor: Executor, config: GRPCAPIConfig) -> None:
        self.executor = executor
        self.config = config
        self.port: int | None = None
        """The bound port once started (useful with port 0)."""
        self._server: grpc.aio.Server | None = None
        self._expected = f"apikey {config.key}".encode() if config.key else None

    # -- lifecycle

    async def start(self) -> None:
        """Bind ``grpc_api.address:port`` and start serving.

        Raises:
            ConfigError: TLS material can not be loaded, or the address can not be bound.
        """
        # No SO_REUSEPORT (GRPC's default on Linux): a taken port must fail, as in Go.
        options: list[tuple[str, Any]] = [("grpc.so_reuseport", 0)]
        if self.config.max_receive_message_size > 0:
            options.append(
                ("grpc.max_receive_message_length", self.config.max_receive_message_size)
            )
        server = grpc.aio.server(options=options)
        server.add_generic_rpc_handlers((self._handler(),))
        if self.config.reflection:
            self._enable_reflection(server)
        # An empty address listens on every interface, IPv4 and IPv6, as Go's ":port" does.
        host = self.config.address or "[::]"
        address = f"{host}:{self.config.port}"
        try:
            if self.config.tls.enabled:
                port = server.add_secure_port(address, server_credentials(self.config.tls))
            else:
                port = server.add_insecure_port(address)
        except RuntimeError as exc:
            await server.stop(None)
            raise ConfigError([f"grpc_api.port: can not listen on {address} ({exc})"]) from exc
        await server.start()
        self._server = server
        self.port = port
        logger.info(
            "serving GRPC API on %s:%s%s", host, port, " (TLS)" if self.config.tls.enabled else ""
        )

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting calls, let running ones finish within ``grace`` seconds."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace)
            logger.info("GRPC API stopped")

    def _enable_reflection(self, server: grpc.aio.Server) -> None:
        try:
            reflection = importlib.import_module("grpc_reflection.v1alpha.reflection")
        except ImportError:
            logger.warning("grpc_api.reflection: grpcio-reflection is not installed, skipped")
            return
        names = (SERVICE, reflection.SERVICE_NAME)
        reflection.enable_server_reflection(names, server, pool=api_pb2.DESCRIPTOR.pool)

    # -- handlers

    def _handler(self) -> grpc.GenericRpcHandler:
        service = api_pb2.DESCRIPTOR.services_by_name["CentrifugoApi"]
        handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
        for rpc in service.methods:
            request_cls = _message_class(rpc.input_type)
            response_cls = _message_class(rpc.output_type)
            if rpc.name == "Batch":
                behavior: Behavior = self._batch
            elif rpc.name in RPCS:
                behavior = self._unary(RPCS[rpc.name], response_cls)
            else:
                behavior = self._unimplemented(rpc.name)
            handlers[rpc.name] = grpc.unary_unary_rpc_method_handler(
                behavior,
                request_deserializer=request_cls.FromString,
                response_serializer=response_cls.SerializeToString,
            )
        return grpc.method_handlers_generic_handler(SERVICE, handlers)

    async def _authenticate(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        if self._expected is None:
            return
        given = _metadata(context, "authorization")
        if given is None or not hmac.compare_digest(given.encode(), self._expected):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")

    def _unimplemented(self, name: str) -> Behavior:
        async def behavior(
            request: Message, context: grpc.aio.ServicerContext[Any, Any]
        ) -> Message:
            await self._authenticate(context)
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"method {name} not implemented")

        return behavior

    def _unary(self, method: str, response_cls: type[Message]) -> Behavior:
        async def behavior(
            request: Message, context: grpc.aio.ServicerContext[Any, Any]
        ) -> Message:
            await self._authenticate(context)
            response: Any = response_cls()
            try:
                await self._call(method, request, response.result)
            except APIError as exc:
                if self._transport_errors(context):
                    status = TRANSPORT_STATUS.get(exc.code, grpc.StatusCode.INTERNAL)
                    details = _status_details(status, exc)
                    await context.abort(
                        status, exc.message, trailing_metadata=((_STATUS_DETAILS_KEY, details),)
                    )
                return response_cls(error=api_pb2.Error(code=exc.code, message=exc.message))
            # Present even when empty: Go marshals the non-nil result struct.
            response.result.SetInParent()
            return response

        return behavior

    async def _batch(
        self, request: Message, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Message:
        # Batch has no error field and no transport error mode (§8): per-command errors
        # are replies; a failure of the whole call (none in practice) can only be a status.
        await self._authenticate(context)
        response = api_pb2.BatchResponse()
        try:
            await self._call("batch", request, response)
        except APIError as exc:
            status = TRANSPORT_STATUS.get(exc.code, grpc.StatusCode.INTERNAL)
            await context.abort(status, exc.message)
        return response

    def _transport_errors(self, context: grpc.aio.ServicerContext[Any, Any]) -> bool:
        return (
            self.config.error_mode == "transport"
            or _metadata(context, "x-centrifugo-error-mode") == "transport"
        )

    async def _call(self, method: str, request: Message, out: Message) -> None:
        """Decode ``request``, run ``method``, encode its result into ``out``.

        Raises:
            APIError: the executor's, 107 when the request dataclass refuses the values,
                100 (logged here, once) when the mapping itself fails.
        """
        request_cls, _ = METHODS[method]
        try:
            payload = decode(request_cls, request)
        except ValueError as exc:  # the dataclass's own validation: the peer's fault
            raise APIError.of(ERROR_BAD_REQUEST, str(exc)) from exc
        except Exception as exc:
            logger.exception("GRPC API %s: can not decode the request", method)
            raise APIError.of(ERROR_INTERNAL, str(exc)) from exc
        # The executor turns its own unexpected failures into error 100 and logs them.
        result = await self.executor.call(method, payload)
        try:
            encode(result, out)
        except Exception as exc:
            logger.exception("GRPC API %s: can not encode the result", method)
            raise APIError.of(ERROR_INTERNAL, str(exc)) from exc


def _message_class(descriptor: Descriptor) -> type[Message]:
    cls: type[Message] = getattr(api_pb2, descriptor.name)
    return cls
