"""Benchmarks: start each server, load it on 127.0.0.1 with ab, print one table.

    python bench/run.py            # full run, results written into docs/benchmarks.md
    python bench/run.py --quick    # fewer requests, nothing written

Needs the test extras (C{pip install '.[test]'}) and ab (Debian: apache2-utils).
The seed workload: 4 workers, TTL 0-5 s, every request waits 1 s, C{ab -c 20 -n 500};
recycler with recycling on and off, and the Node.js cluster seed when node exists.
Every run is bounded: ab stops after its request count, servers are always killed.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from harness import Server  # noqa: E402

NODE_SEED = ROOT.parent / "shared" / "reference" / "seed-cluster.js"
RESULTS = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:results -->", "<!-- /bench:results -->"

AB_FIELDS = {
    "complete": r"Complete requests:\s+(\d+)",
    "failed": r"Failed requests:\s+(\d+)",
    "non2xx": r"Non-2xx responses:\s+(\d+)",
    "rps": r"Requests per second:\s+([\d.]+)",
    "mean": r"Total:\s+\d+\s+(\d+)",
    "p99": r"\s99%\s+(\d+)",
}


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def waitForPort(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


def ab(url: str, concurrency: int, requests: int) -> dict[str, float]:
    """Run ab (bounded by its request count and a time limit) and parse its summary."""
    output = subprocess.run(
        ["ab", "-r", "-s", "30", "-c", str(concurrency), "-n", str(requests), url],
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout
    result = {}
    for name, pattern in AB_FIELDS.items():
        match = re.search(pattern, output)
        result[name] = float(match.group(1)) if match else 0.0
    return result


@contextmanager
def recycler(*args: str) -> Iterator[tuple[str, Server]]:
    server = Server(*args)
    try:
        server.waitReady(4, timeout=30)
        yield server.url, server
    finally:
        server.signal(signal.SIGTERM)
        try:
            server.wait(40)
        finally:
            server.kill()


@contextmanager
def nodeSeed(recycle: bool) -> Iterator[tuple[str, None]]:
    port = freePort()
    env = {**os.environ, "PORT": str(port), "RECYCLE": "1" if recycle else "0"}
    process = subprocess.Popen(
        ["node", str(NODE_SEED)], env=env, stdout=subprocess.DEVNULL, start_new_session=True
    )
    try:
        waitForPort(port)
        time.sleep(0.5)  # let all 4 cluster workers listen; node gives no ready signal
        yield f"http://127.0.0.1:{port}/", None
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def seedScenario(requests: int) -> list[tuple[str, dict[str, float]]]:
    """Scenario 1: the Node.js example's workload."""
    runs = [
        ("recycler, TTL 0-5 s", lambda: recycler("--ttl", "0:5")),
        ("recycler, recycling off", lambda: recycler("--ttl", "off")),
    ]
    if shutil.which("node") and NODE_SEED.exists():
        runs.append(("Node.js cluster seed, TTL 0-5 s", lambda: nodeSeed(True)))
    rows = []
    for name, start in runs:
        with start() as (url, server):
            result = ab(url, 20, requests)
            result["recycles"] = len(server.eventsOf("exited")) if server else float("nan")
        rows.append((name, result))
        print(f"  {name}: {result}", file=sys.stderr)
    return rows


def wrk(url: str, connections: int, seconds: int) -> dict[str, float]:
    """Run wrk (keep-alive, bounded by C{seconds}) and parse req/s and socket errors."""
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "errors": float(sum(map(int, errors.groups()))) if errors else 0.0,
    }


def servedShares(server: Server) -> list[float]:
    """Each worker's share of the requests, largest first, read from its exit event."""
    served = sorted((e["served"] for e in server.eventsOf("exited")), reverse=True)
    total = sum(served) or 1
    return [100 * n / total for n in served]


def balanceScenario(quick: bool) -> str:
    """How evenly 4 workers share a load (hello app, no recycling)."""
    lines = [
        "| load | req/s | requests per worker (%) |",
        "|---|---|---|",
    ]
    loads = [
        ("ab -c 50 -n 20000 (a connection per request)", lambda url: ab(url, 50, 20000)),
        ("wrk -c 50 -d 10s (keep-alive)", lambda url: wrk(url, 50, 10)),
    ]
    if quick:
        loads = [("ab -c 50 -n 2000", lambda url: ab(url, 50, 2000))]
    for name, run in loads:
        with recycler("--ttl", "off", "--app", "recycler.demo:hello") as (url, server):
            result = run(url)
        shares = " / ".join(f"{share:.0f}" for share in servedShares(server))
        lines.append(f"| {name} | {result['rps']:.0f} | {shares} |")
        print(f"  balance {name}: {result} {shares}", file=sys.stderr)
    return "\n".join(lines)


def table(rows: list[tuple[str, dict[str, float]]], baseline: str) -> str:
    base = dict(rows)[baseline]["rps"]
    lines = [
        "| server | complete | failed | non-2xx | req/s | vs. recycling off | mean ms | p99 ms "
        "| recycles |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows:
        recycles = "n/a" if r["recycles"] != r["recycles"] else f"{r['recycles']:.0f}"
        lines.append(
            f"| {name} | {r['complete']:.0f} | {r['failed']:.0f} | {r['non2xx']:.0f} "
            f"| {r['rps']:.2f} | {r['rps'] / base:.3f} | {r['mean']:.0f} | {r['p99']:.0f} "
            f"| {recycles} |"
        )
    return "\n".join(lines)


def describeMachine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, "
        f"Python {platform.python_version()}, measured {time.strftime('%Y-%m-%d')}"
    )


def writeResults(text: str) -> None:
    document = RESULTS.read_text()
    start, end = document.index(BEGIN) + len(BEGIN), document.index(END)
    RESULTS.write_text(document[:start] + "\n" + text + "\n" + document[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 requests, write nothing")
    args = parser.parse_args()
    if not shutil.which("ab"):
        sys.exit("ab not found: apt-get install apache2-utils")
    requests = 100 if args.quick else 500
    rows = seedScenario(requests)
    text = (
        f"Measured on {describeMachine()}.\n\n"
        f"### Seed workload\n\n`ab -r -c 20 -n {requests}`, 1 s per request, 4 workers.\n\n"
        + table(rows, "recycler, recycling off")
        + "\n\n### Load balance\n\n4 workers, `recycler.demo:hello`, no recycling; each "
        "worker's share of the requests, from its final counters.\n\n" + balanceScenario(args.quick)
    )
    print(text)
    if not args.quick:
        writeResults(text)


if __name__ == "__main__":
    main()
