"""A small HTTP/1.1 keep-alive load generator, run as its own process by ``tellwell bench gateway``
when ``wrk`` is not installed: ``python -m tellwell.bench.loadgen HOST PORT PATH... --seconds S``
(or ``--paths-file FILE``, one path a line, for more paths than a command line holds).

Plain asyncio streams (uvloop when present), one request in flight per connection, paths taken
round-robin; with at least as many paths as connections each connection takes its own share, so no
path is asked twice before all were asked once. Prints one JSON line: requests, errors, req/s,
p50/p90/p99 in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any


async def connection(
    host: str, port: int, requests: list[bytes], until: float, latencies: list[float]
) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    errors, i = 0, 0
    try:
        while time.perf_counter() < until:
            request = requests[i % len(requests)]
            i += 1
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                    break
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors += 1
    finally:
        writer.close()
    return errors


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


async def run(host: str, port: int, paths: list[str], seconds: float, connections: int) -> dict[str, Any]:
    requests = [f"GET {p} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode() for p in paths]
    latencies: list[float] = []
    started = time.perf_counter()
    until = started + seconds
    if len(requests) >= connections:
        shares = [requests[i::connections] for i in range(connections)]
    else:
        shares = [requests[i % len(requests) :] + requests[: i % len(requests)] for i in range(connections)]
    results = await asyncio.gather(*(connection(host, port, share, until, latencies) for share in shares))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": sum(results),
        "req_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p90_ms": round(percentile(latencies, 0.90) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--paths-file", type=argparse.FileType("r"), default=None)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    paths = list(args.paths)
    if args.paths_file is not None:
        paths += [line.strip() for line in args.paths_file if line.strip()]
    if not paths:
        parser.error("no path to request")
    job = run(args.host, args.port, paths, args.seconds, args.connections)
    try:
        import uvloop

        result = uvloop.run(job)
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        result = asyncio.run(job)
    print(json.dumps(result))  # noqa: T201 - the output of this process


if __name__ == "__main__":
    main()
