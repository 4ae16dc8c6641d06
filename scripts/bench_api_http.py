"""Server API throughput over HTTP: publish or batch requests in a closed loop.

The referee (../shared/bench) has ``api:C`` for single publishes but no batch scenario;
this measures both the same way: C keep-alive connections, each with one request in
flight, for D seconds, against a running server.

    python scripts/bench_api_http.py --api http://127.0.0.1:8000/api --api-key KEY \
        --conns 4 --batch 100 --duration 5

Run it pinned to the other core than the server (``taskset -c 1``).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import urllib.parse

import orjson

from whirlwind.bench import _HTTPPublisher, percentiles


async def main(args: argparse.Namespace) -> None:
    url = urllib.parse.urlsplit(args.api.rstrip("/"))
    method = "batch" if args.batch else "publish"
    head = (
        f"POST {url.path}/{method} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"X-API-Key: {args.api_key}\r\nContent-Type: application/json\r\nContent-Length: "
    ).encode()
    data = {"text": "x" * args.payload}
    if args.batch:
        body = orjson.dumps(
            {
                "commands": [
                    {"publish": {"channel": f"{args.channel}{i % args.channels}", "data": data}}
                    for i in range(args.batch)
                ]
            }
        )
    else:
        body = orjson.dumps({"channel": args.channel, "data": data})
    loop = asyncio.get_running_loop()
    connections = []
    for _ in range(args.conns):
        _, protocol = await loop.create_connection(
            lambda: _HTTPPublisher(head), url.hostname or "127.0.0.1", url.port or 80
        )
        connections.append(protocol)
    latencies: list[float] = []
    counts = [0]
    start = time.perf_counter()
    measure_from = start + args.warmup
    deadline = measure_from + args.duration

    async def worker(connection: _HTTPPublisher) -> None:
        while (now := time.perf_counter()) < deadline:
            reply = await connection.post(body)
            if b'"error"' in reply[:2000]:
                raise RuntimeError(f"API error: {reply[:300]!r}")
            if now >= measure_from:
                counts[0] += 1
                latencies.append((time.perf_counter() - now) * 1000)

    await asyncio.gather(*(worker(c) for c in connections))
    elapsed = time.perf_counter() - measure_from
    requests = counts[0] / elapsed
    per_request = args.batch or 1
    p = percentiles(latencies)
    print(
        f"{method}: {requests:,.0f} requests/s, {requests * per_request:,.0f} publications/s "
        f"({args.conns} connections, {per_request} per request); "
        f"latency p50 {p.get('p50', 0):.2f} ms p99 {p.get('p99', 0):.2f} ms"
    )
    for c in connections:
        if c.transport is not None:
            c.transport.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", default="http://127.0.0.1:8000/api")
    parser.add_argument("--api-key", default="")
    parser.add_argument("--conns", type=int, default=4)
    parser.add_argument("--batch", type=int, default=0, help="publishes per batch; 0: publish")
    parser.add_argument("--channel", default="bench")
    parser.add_argument("--channels", type=int, default=1, help="spread a batch over N channels")
    parser.add_argument("--payload", type=int, default=100)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    import uvloop

    uvloop.run(main(parser.parse_args()))
