"""A closed-loop HTTP/1.1 load generator on asyncio streams: keep-alive where the server allows it.

Each connection sends its next request as soon as the previous answer is read, so the figures are
the server's capacity at that concurrency. Every answer goes to a checker, which says what is wrong
with it (a status, another company's data); the generator counts requests, latencies and problems.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Request:
    """One request of the mix: who sends it, what, and the tag its answer is checked against."""

    caller: str
    kind: str
    path: str
    headers: bytes


@dataclass
class Outcome:
    """What one timed window of load produced."""

    seconds: float
    latencies: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)
    errors: int = 0
    connections_opened: int = 0
    client_cpu_seconds: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies)


Checker = Callable[[Request, int, bytes], list[str]]


def encode(method: str, path: str, host: str, headers: dict[str, str]) -> bytes:
    """The bytes of a request without a body."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode("latin-1")


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body, and whether the server keeps the connection open."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            chunks.append(chunk[:-2])
        body = b"".join(chunks)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    keep_alive = headers.get("connection", "").lower() != "close"
    return status, body, keep_alive


async def _connection(
    host: str,
    port: int,
    plan: Sequence[Request],
    offset: int,
    step: int,
    check: Checker,
    deadline: float,
    outcome: Outcome,
) -> None:
    """One client connection working through its share of the plan until the deadline."""
    index = offset
    reader = writer = None
    while time.perf_counter() < deadline:
        request = plan[index % len(plan)]
        index += step
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
                outcome.connections_opened += 1
            writer.write(request.headers)
            status, body, keep_alive = await _read_response(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            if writer is not None:
                writer.close()
            reader = writer = None
            outcome.errors += 1
            outcome.problems.append(f"{request.caller} {request.kind} {request.path}: error: {error!r}")
            continue
        elapsed = time.perf_counter() - started
        outcome.latencies.append(elapsed)
        outcome.kinds[request.kind] += 1
        found = check(request, status, body)
        if found:
            outcome.problems.extend(f"{request.caller} {request.kind} {request.path}: {p}" for p in found)
        if not keep_alive:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def _drive(
    host: str,
    port: int,
    plan: Sequence[Request],
    connections: int,
    seconds: float,
    check: Checker,
) -> Outcome:
    outcome = Outcome(seconds=seconds)
    deadline = time.perf_counter() + seconds
    cpu_before = time.process_time()
    await asyncio.gather(
        *(_connection(host, port, plan, n, connections, check, deadline, outcome) for n in range(connections))
    )
    outcome.client_cpu_seconds = time.process_time() - cpu_before
    return outcome


def drive(
    host: str,
    port: int,
    plan: Sequence[Request],
    *,
    connections: int,
    seconds: float,
    check: Checker,
) -> Outcome:
    """Keep `connections` requests in flight for `seconds`, walking the plan in order; return the outcome."""
    return asyncio.run(_drive(host, port, plan, connections, seconds, check))
