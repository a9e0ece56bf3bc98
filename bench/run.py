"""Benchmarks: start each server, load it on 127.0.0.1 with ab and wrk, print one table each.

    python bench/run.py            # full run (several minutes): tables and the lifetimes
                                   # plot written into docs/
    python bench/run.py --quick    # every scenario shrunk (under 3 minutes), nothing written
    python bench/run.py --only hello,scale   # some scenarios, nothing written

Needs the test extras and the bench extra (C{pip install -e '.[test,bench]'}: matplotlib,
gunicorn), ab (Debian: apache2-utils) and wrk; node for the Node.js seed and gunicorn
are optional peers. The scenarios:

 1. C{seed}: the Node.js cluster example's workload (4 workers, TTL 0-5 s, 1 s per
    request, C{ab -c 20 -n 500}): recycler with recycling on and off, the Node.js
    seed with recycling on and off. Its recycler run draws C{docs/lifetimes.png}.
 2. C{hello}: a zero-delay hello app, 4 workers, under C{wrk -t2 -c 50 -d 10s}
    (keep-alive) and C{ab -c 50 -n 50000}, recycling about once a second and off;
    recycler and gunicorn (gthread, C{--max-requests} calibrated from its own
    recycling-off run). 50000 requests, not 20000: 20000 last 4-6 s here, which
    leaves room for one or two recycles only.
 3. C{respawn}: spawn-to-ready latency over 50 recycles of 2 workers with
    C{--ttl 0.2:0.4}, idle and under a light load.
 4. C{scale}: 32 workers, C{--ttl 1:2}, C{ab -c 50 -n 20000} of the hello app, then
    idle: failures, req/s, recycles and the master's CPU. 20000 requests, not 5000:
    5000 last about 1.5 s, less than one worker start-up under this load.

Every run is bounded (ab by its request count or time limit, wrk by its duration) and
every server is killed, process group and all, when its run ends.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

from plot_lifetimes import plotLifetimes  # noqa: E402

from recycler.testing.server import Server  # noqa: E402

NODE_SEED = ROOT.parent / "shared" / "reference" / "seed-cluster.js"
RESULTS = ROOT / "docs" / "benchmarks.md"
LIFETIMES = ROOT / "docs" / "lifetimes.png"
BEGIN, END = "<!-- bench:results -->", "<!-- /bench:results -->"
HELLO = "recycler.demo:hello"
NONE = "-"  # a table cell with nothing to show

Result = dict[str, float]

AB_FIELDS = {
    "complete": r"Complete requests:\s+(\d+)",
    "failed": r"Failed requests:\s+(\d+)",
    "non2xx": r"Non-2xx responses:\s+(\d+)",
    "rps": r"Requests per second:\s+([\d.]+)",
    "mean": r"Total:\s+\d+\s+(\d+)",
    "p99": r"\s99%\s+(\d+)",
    "seconds": r"Time taken for tests:\s+([\d.]+)",
}


@dataclass(frozen=True)
class Sizes:
    """How big each scenario's runs are: the full run, or the shrunk C{--quick} one."""

    seedRequests: int
    helloRequests: int
    wrkSeconds: int
    respawns: int
    scaleRequests: int
    scaleIdle: int


FULL = Sizes(
    seedRequests=500,
    helloRequests=50000,
    wrkSeconds=10,
    respawns=50,
    scaleRequests=20000,
    scaleIdle=10,
)
QUICK = Sizes(
    seedRequests=60,
    helloRequests=6000,
    wrkSeconds=3,
    respawns=10,
    scaleRequests=5000,
    scaleIdle=3,
)


# Servers. Each one is a context manager yielding a Target: its URL and a recycle count.


class Target(Protocol):
    """A running server under test."""

    url: str

    def recycles(self) -> int:
        """How many workers were recycled so far."""


class RecyclerTarget:
    """A recycler master run by the test harness; recycles are its C{exited} events."""

    def __init__(self, server: Server) -> None:
        """Wrap a started harness L{Server}."""
        self.server = server
        self.url = server.url

    def recycles(self) -> int:
        """Workers that have exited so far."""
        return len(self.server.eventsOf("exited"))


class LogTarget:
    """A server whose recycles are counted from lines of its output file."""

    def __init__(self, url: str, output: Path, pattern: str) -> None:
        """Count the lines of C{output} that match C{pattern}."""
        self.url = url
        self.output = output
        self.pattern = pattern

    def recycles(self) -> int:
        """Matching lines so far."""
        return len(re.findall(self.pattern, self.output.read_text(errors="replace")))


def freePort() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def waitForPort(port: int, timeout: float = 20) -> None:
    """Block until something accepts connections on C{port}, or fail after C{timeout}."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


@contextmanager
def recycler(*args: str, workers: int = 4) -> Iterator[RecyclerTarget]:
    """Run C{recycler *args} until C{workers} workers are ready; SIGTERM it, then kill."""
    server = Server(*args)
    try:
        server.waitReady(workers, timeout=60)
        yield RecyclerTarget(server)
    finally:
        server.signal(signal.SIGTERM)
        try:
            server.wait(40)
        finally:
            server.kill()


@contextmanager
def externalServer(
    command: list[str], env: dict[str, str], port: int, ready: Callable[[str], bool], pattern: str
) -> Iterator[LogTarget]:
    """
    Run C{command} in its own session with its output in a temporary file,
    until the port answers and C{ready(output)}; then kill its process group.
    """
    with tempfile.TemporaryDirectory(prefix="recycler-bench-") as directory:
        output = Path(directory) / "output.log"
        with output.open("wb") as sink:
            process = subprocess.Popen(
                command, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            waitForPort(port)
            deadline = time.monotonic() + 20
            while not ready(output.read_text(errors="replace")):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{command[0]} not ready:\n{output.read_text()[-2000:]}")
                time.sleep(0.05)
            time.sleep(0.5)  # the last worker logged its start; let it reach accept()
            yield LogTarget(f"http://127.0.0.1:{port}/", output, pattern)
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(10)


def nodeSeed(recycle: bool) -> AbstractContextManager[LogTarget]:
    """The Node.js cluster seed (4 workers, TTL 0-5 s, 1 s per request); it logs C{death:}."""
    port = freePort()
    env = {**os.environ, "PORT": str(port), "RECYCLE": "1" if recycle else "0"}
    # node gives no ready signal: wait for the port, then half a second for all 4 workers.
    return externalServer(["node", str(NODE_SEED)], env, port, lambda out: True, r"death: ")


def gunicorn(maxRequests: int = 0, jitter: int = 0) -> AbstractContextManager[LogTarget]:
    """gunicorn, gthread worker, 4 workers, serving C{bench/hello_wsgi.py}."""
    port = freePort()
    command = [
        sys.executable, "-m", "gunicorn", "--pythonpath", str(BENCH), "-k", "gthread",
        "-w", "4", "-b", f"127.0.0.1:{port}", "--error-logfile", "-", "--log-level", "info",
    ]  # fmt: skip
    if maxRequests:
        command += ["--max-requests", str(maxRequests), "--max-requests-jitter", str(jitter)]
    command.append("hello_wsgi:application")
    return externalServer(
        command,
        dict(os.environ),
        port,
        lambda out: out.count("Booting worker") >= 4,
        r"Autorestarting worker",
    )


def hasNode() -> bool:
    """Whether the Node.js seed can run here."""
    return bool(shutil.which("node")) and NODE_SEED.exists()


def hasGunicorn() -> bool:
    """Whether gunicorn is importable."""
    return find_spec("gunicorn") is not None


# Loads.


def ab(url: str, concurrency: int, requests: int) -> Result:
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
    result["errors"] = result["failed"]
    return result


def wrk(url: str, connections: int, seconds: int) -> Result:
    """Run wrk (keep-alive, bounded by C{seconds}) and parse req/s and socket errors."""
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)\b", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    unit = {"ms": 0.001, "s": 1, "m": 60}
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "complete": float(total.group(1)) if total else 0.0,
        "errors": float(sum(map(int, errors.groups()))) if errors else 0.0,
        "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "seconds": float(total.group(2)) * unit[total.group(3)] if total else float(seconds),
    }


def pause(seconds: float) -> Result:
    """No load at all for C{seconds}: the idle counterpart of L{ab} and L{wrk}."""
    time.sleep(seconds)
    return {"seconds": seconds}


def measure(target: Target, load: Callable[[str], Result]) -> Result:
    """
    Run C{load} against C{target}; add the number of recycles during the load
    and, for recycler, the median start-up (ms) of the workers that became
    ready meanwhile (NaN if none did).
    """
    before = target.recycles()
    readyBefore = len(target.server.eventsOf("ready")) if isinstance(target, RecyclerTarget) else 0
    result = load(target.url)
    result["recycles"] = target.recycles() - before
    result["startup"] = float("nan")
    if isinstance(target, RecyclerTarget):
        startups = [e["startup"] for e in target.server.eventsOf("ready")[readyBefore:]]
        if startups:
            result["startup"] = 1000 * statistics.median(startups)
    return result


def report(name: str, result: dict[str, Any]) -> None:
    """Show a run's raw result on stderr while the benchmark goes on."""
    shown = {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}
    print(f"  {name}: {shown}", file=sys.stderr, flush=True)


# Formatting.


def ratio(value: float, base: float | None) -> str:
    """C{value / base} to 2 decimals, or a dash when there is nothing to compare with."""
    return NONE if not base else f"{value / base:.2f}"


def milliseconds(value: float) -> str:
    """Milliseconds, rounded, or a dash for NaN (nothing measured)."""
    return NONE if value != value else f"{value:.0f}"


def percentile(values: list[float], fraction: float) -> float:
    """The C{fraction} quantile of C{values} (linear interpolation between closest ranks)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def wrap(paragraph: str) -> str:
    """A paragraph wrapped at 90 columns, never inside a word (a newline reads as a space)."""
    return textwrap.fill(paragraph, 90, break_long_words=False, break_on_hyphens=False)


def markdownTable(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class Section:
    """One scenario's part of the results: a heading, the setup, and a table."""

    title: str
    setup: str
    table: str

    def markdown(self) -> str:
        """The section as markdown."""
        return f"### {self.title}\n\n{wrap(self.setup)}\n\n{self.table}"


# Scenario 1: the seed workload.


def seedScenario(sizes: Sizes, plot: Path | None) -> Section:
    """Scenario 1: the Node.js example's workload, recycler against the Node.js seed."""
    runs: list[tuple[str, str, Callable[[], Any]]] = [
        ("recycler", "TTL 0-5 s", lambda: recycler("--ttl", "0:5")),
        ("recycler", "off", lambda: recycler("--ttl", "off")),
    ]
    if hasNode():
        runs += [
            ("Node.js cluster seed", "TTL 0-5 s", lambda: nodeSeed(True)),
            ("Node.js cluster seed", "off", lambda: nodeSeed(False)),
        ]
    results: dict[tuple[str, str], Result] = {}
    lifecycle: list[dict[str, Any]] = []
    for server, recycling, start in runs:
        with start() as target:
            results[server, recycling] = measure(
                target, lambda url: ab(url, 20, sizes.seedRequests)
            )
        if server == "recycler" and recycling != "off":
            lifecycle = target.server.events  # complete: the server has exited
        report(f"{server}, {recycling}", results[server, recycling])
    if plot is not None:
        plotLifetimes(
            lifecycle,
            plot,
            f"recycler worker lifetimes: 4 workers, TTL 0-5 s, "
            f"ab -c 20 -n {sizes.seedRequests}, 1 s per request, then SIGTERM",
        )
    rows = []
    for server, recycling, _ in runs:
        r = results[server, recycling]
        off = results[server, "off"]["rps"]
        ours = results["recycler", recycling]["rps"]
        rows.append(
            [
                server,
                recycling,
                f"{r['complete']:.0f}",
                f"{r['failed']:.0f}",
                f"{r['non2xx']:.0f}",
                f"{r['rps']:.2f}",
                ratio(r["rps"], off),
                NONE if server == "recycler" else ratio(ours, r["rps"]),
                f"{r['mean']:.0f}",
                f"{r['p99']:.0f}",
                f"{r['recycles']:.0f}",
            ]
        )
    header = ["server", "recycling", "complete", "failed", "non-2xx", "req/s", "on / off",
              "recycler / this", "mean ms", "p99 ms", "recycles"]  # fmt: skip
    return Section(
        "Seed workload",
        f"4 workers, every request waits 1 s, `ab -r -c 20 -n {sizes.seedRequests}`. "
        '"on / off" is the req/s with recycling on over the same server\'s with recycling '
        "off; \"recycler / this\" is recycler's req/s over this server's, same recycling; "
        '"recycles" counts workers that exited during the load (Node.js: its `death:` lines).',
        markdownTable(header, rows),
    )


# Scenario 2: a zero-delay hello app, recycler against gunicorn.


def shares(target: RecyclerTarget) -> str:
    """Each worker's share of the requests (%), largest first, from its final counters."""
    served = sorted((e["served"] for e in target.server.eventsOf("exited")), reverse=True)
    total = sum(served) or 1
    return " / ".join(f"{100 * n / total:.0f}" for n in served)


def helloScenario(sizes: Sizes) -> Section:
    """Scenario 2: hello app under wrk and ab, recycling about once a second and off."""
    loads: list[tuple[str, Callable[[str], Result]]] = [
        (f"wrk -t2 -c 50 -d {sizes.wrkSeconds}s", lambda url: wrk(url, 50, sizes.wrkSeconds)),
        (f"ab -c 50 -n {sizes.helloRequests}", lambda url: ab(url, 50, sizes.helloRequests)),
    ]
    rows = []
    for loadName, load in loads:
        results: dict[tuple[str, str], Result] = {}
        split = {}
        for recycling, ttl in (("off", "off"), ("TTL 2-6 s", "2:6")):
            with recycler("--ttl", ttl, "--app", HELLO) as target:
                results["recycler", recycling] = measure(target, load)
            if ttl == "off":
                split["recycler", recycling] = shares(target)
            report(f"{loadName}, recycler, {recycling}", results["recycler", recycling])
        if hasGunicorn():
            with gunicorn() as target:
                results["gunicorn", "off"] = off = measure(target, load)
            report(f"{loadName}, gunicorn, off", off)
            # A worker serves rps/4 requests a second: to live 2-6 s, as recycler's workers
            # with --ttl 2:6 do, it serves rps/2 requests plus 0..rps more.
            maxRequests, jitter = round(off["rps"] / 2), round(off["rps"])
            recycling = f"max-requests {maxRequests} + 0-{jitter}"
            with gunicorn(maxRequests, jitter) as target:
                results["gunicorn", recycling] = measure(target, load)
            report(f"{loadName}, gunicorn, {recycling}", results["gunicorn", recycling])
        offOf = {
            server: r["rps"] for (server, recycling), r in results.items() if recycling == "off"
        }
        onOf = {
            server: r["rps"] for (server, recycling), r in results.items() if recycling != "off"
        }
        for (server, recycling), r in results.items():
            mine = offOf if recycling == "off" else onOf
            rows.append(
                [
                    loadName,
                    server,
                    recycling,
                    f"{r['complete']:.0f}",
                    f"{r['rps']:.0f}",
                    ratio(r["rps"], offOf[server]),
                    NONE if server == "recycler" else ratio(mine["recycler"], r["rps"]),
                    f"{r['errors']:.0f}",
                    f"{r['non2xx']:.0f}",
                    f"{r['recycles']:.0f}",
                    f"{r['recycles'] / r['seconds']:.2f}",
                    milliseconds(r["startup"]),
                    split.get((server, recycling), ""),
                ]
            )
    header = ["load", "server", "recycling", "requests", "req/s", "on / off", "recycler / this",
              "errors", "non-2xx", "recycles", "recycles/s", "spawn → ready median ms",
              "split % (per worker)"]  # fmt: skip
    return Section(
        "Hello app: recycler and gunicorn",
        "4 workers, a zero-delay app answering `hello` (`recycler.demo:hello`; for gunicorn "
        '`bench/hello_wsgi.py`, gthread worker, 1 thread). "errors" are wrk\'s socket errors '
        "(connect, read, write, timeout) or ab's failed requests. gunicorn's `--max-requests` "
        "is calibrated from its own recycling-off req/s in the same invocation: a worker "
        "serving a quarter of that rate then lives 2-6 s, like recycler's with `--ttl 2:6` "
        "(about one recycle a second among 4); its recycles are its `Autorestarting worker` "
        'lines. "spawn → ready" is the median start-up of the recycler workers that became '
        'ready during the load. "split" is each worker\'s share of the requests with recycling '
        "off, from its final counters.",
        markdownTable(header, rows),
    )


# Scenario 3: respawn latency.


def respawnRun(respawns: int, load: list[str] | None) -> Result:
    """
    2 workers with C{--ttl 0.2:0.4}, until C{respawns} replacements became ready,
    optionally under an ab C{load}; spawn-to-ready and drain times of the replacements.
    """
    app = HELLO if load is None else "recycler.demo:resource"
    with recycler("--workers", "2", "--ttl", "0.2:0.4", "--app", app, workers=2) as target:
        server = target.server
        client = None
        if load is not None:
            client = subprocess.Popen(
                [*load, target.url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        try:
            server.waitReady(2 + respawns, timeout=30 + 3 * respawns)
        finally:
            if client is not None:
                client.kill()
                client.wait(10)
        ready = server.eventsOf("ready")[1 : 2 + respawns]
        startups = [1000 * e["startup"] for e in ready[1:]]
        drainingAt = {e["workerId"]: e["log_time"] for e in server.eventsOf("draining")}
        drains = [
            1000 * (e["log_time"] - drainingAt[e["workerId"]])
            for e in server.eventsOf("exited")
            if e["workerId"] in drainingAt
        ]
    return {
        "respawns": len(startups),
        "median": statistics.median(startups),
        "p95": percentile(startups, 0.95),
        "max": max(startups),
        "drain": statistics.median(drains) if drains else float("nan"),
        "rate": len(startups) / (ready[-1]["log_time"] - ready[0]["log_time"]),
    }


def respawnScenario(sizes: Sizes) -> Section:
    """Scenario 3: how long a replacement takes from spawn to ready, idle and under load."""
    runs = [
        ("idle (hello app)", None),
        (
            "light load: `ab -c 10`, 1 s per request (about 10 req/s)",
            ["ab", "-r", "-s", "30", "-t", "300", "-n", "100000", "-c", "10"],
        ),
    ]
    rows = []
    for name, load in runs:
        result = respawnRun(sizes.respawns, load)
        report(f"respawn, {name}", result)
        rows.append(
            [
                name,
                f"{result['respawns']:.0f}",
                f"{result['median']:.0f}",
                f"{result['p95']:.0f}",
                f"{result['max']:.0f}",
                f"{result['drain']:.0f}",
                f"{result['rate']:.2f}",
            ]
        )
    header = ["condition", "respawns", "spawn → ready median ms", "p95 ms", "max ms",
              "drain median ms", "recycles/s"]  # fmt: skip
    return Section(
        "Respawn latency",
        f"2 workers, `--ttl 0.2:0.4`, until {sizes.respawns} replacement workers became ready "
        'after the first 2. "spawn → ready" is the `startup` field of each replacement\'s '
        "`ready` event (from `spawnProcess` to the worker's `ready` line: Python start, "
        'imports, adopting the socket); "drain" is `draining` → `exited` of the recycled '
        'workers; "recycles/s" is the rate achieved (recycles are serialized by '
        "`--max-draining 1`).",
        markdownTable(header, rows),
    )


# Scenario 4: scale.


def window(target: RecyclerTarget, run: Callable[[], Result]) -> Result:
    """
    Measure C{run} (a load, or a pause) on a recycler: recycles, the master's
    CPU (% of one core), and which workers were born meanwhile (C{"born"}).
    """
    import psutil

    server = target.server
    master = psutil.Process(server.process.pid)
    born = len(server.eventsOf("born"))
    exited = len(server.eventsOf("exited"))
    cpu = sum(master.cpu_times()[:2])
    started = time.monotonic()
    result = run()
    seconds = result.get("seconds") or time.monotonic() - started
    result["cpu"] = 100 * (sum(master.cpu_times()[:2]) - cpu) / seconds
    result["seconds"] = seconds
    result["recycles"] = len(server.eventsOf("exited")) - exited
    result["born"] = {e["workerId"] for e in server.eventsOf("born")[born:]}
    return result


def startupOf(server: Server, workerIds: set[int]) -> float:
    """
    Median spawn-to-ready (ms) of the given workers, once each is ready or gone
    (at most 30 s); NaN if none became ready.
    """

    def settled(events: list[dict[str, Any]]) -> bool:
        """Whether every one of C{workerIds} became ready or exited."""
        done = {e["workerId"] for e in events if e.get("event") in ("ready", "exited")}
        return workerIds <= done

    try:
        server.waitFor(settled, timeout=30)
    except AssertionError:
        pass
    startups = [e["startup"] for e in server.eventsOf("ready") if e["workerId"] in workerIds]
    return 1000 * statistics.median(startups) if startups else float("nan")


def scaleScenario(sizes: Sizes) -> Section:
    """Scenario 4: 32 workers recycling every 1-2 s, under ab and idle; the master's CPU."""
    runs = [
        ("off", ["--ttl", "off"]),
        ("TTL 1-2 s", ["--ttl", "1:2"]),
        ("TTL 1-2 s, `--max-draining 32`", ["--ttl", "1:2", "--max-draining", "32"]),
    ]
    load = f"ab -c 50 -n {sizes.scaleRequests}"
    idle = f"idle {sizes.scaleIdle} s"
    results: dict[tuple[str, str], Result] = {}
    for name, args in runs:
        with recycler("--workers", "32", "--app", HELLO, *args, workers=32) as target:
            server = target.server
            if args[1] != "off":  # start measuring once the first TTLs have run out
                server.waitFor(lambda events: "exited" in {e.get("event") for e in events}, 60)
            phases = {
                load: window(target, lambda: ab(target.url, 50, sizes.scaleRequests)),
                idle: window(target, lambda: pause(sizes.scaleIdle)),
            }
            for phase, result in phases.items():
                result["startup"] = startupOf(server, result.pop("born"))
                results[name, phase] = result
                report(f"scale, {name}, {phase}", result)
    off = results["off", load]["rps"]
    rows = []
    for (name, phase), r in results.items():
        loaded = phase == load
        rows.append(
            [
                name,
                phase,
                f"{r['complete']:.0f}" if loaded else NONE,
                f"{r['failed']:.0f}" if loaded else NONE,
                f"{r['rps']:.0f}" if loaded else NONE,
                ratio(r["rps"], off) if loaded else NONE,
                f"{r['recycles']:.0f}",
                f"{r['recycles'] / r['seconds']:.1f}",
                milliseconds(r["startup"]),
                f"{r['cpu']:.1f}",
            ]
        )
    header = ["recycling", "phase", "complete", "failed", "req/s", "on / off", "recycles",
              "recycles/s", "spawn → ready median ms", "master CPU %"]  # fmt: skip
    return Section(
        "Scale: 32 workers",
        f"32 workers, `recycler.demo:hello`; `--ttl 1:2` asks for about 21 recycles/s. "
        "Each pool is measured once its first TTL ran out, first under "
        f"`ab -r -c 50 -n {sizes.scaleRequests}`, then idle for {sizes.scaleIdle} s. "
        '"master CPU" is the master\'s user + system time in the phase (psutil), in % of one '
        'core; "spawn → ready" is the median start-up of the workers spawned in the phase '
        "(some became ready after it).",
        markdownTable(header, rows),
    )


# The whole run.

SCENARIOS: dict[str, Callable[[Sizes, Path | None], Section]] = {
    "seed": seedScenario,
    "hello": lambda sizes, plot: helloScenario(sizes),
    "respawn": lambda sizes, plot: respawnScenario(sizes),
    "scale": lambda sizes, plot: scaleScenario(sizes),
}


def describeMachine() -> str:
    """CPUs, CPU model, kernel, Python and Twisted versions, and today's date."""
    import twisted

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
        f"Python {platform.python_version()}, Twisted {twisted.__version__}, "
        f"measured {time.strftime('%Y-%m-%d')}"
    )


def writeResults(text: str) -> None:
    """Replace what is between the results markers of docs/benchmarks.md with C{text}."""
    document = RESULTS.read_text()
    start, end = document.index(BEGIN) + len(BEGIN), document.index(END)
    RESULTS.write_text(document[:start] + "\n" + text + "\n" + document[end:])


def main() -> None:
    """Run the scenarios, print their tables, and (full run only) write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shrink every run, write nothing")
    parser.add_argument(
        "--only", default=",".join(SCENARIOS), help=f"comma-separated from {','.join(SCENARIOS)}"
    )
    args = parser.parse_args()
    chosen = [name for name in args.only.split(",") if name]
    if unknown := set(chosen) - set(SCENARIOS):
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    for tool in ("ab", "wrk"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found (Debian: apt-get install apache2-utils wrk)")
    write = not args.quick and set(chosen) == set(SCENARIOS)
    sizes = QUICK if args.quick else FULL
    started = time.monotonic()
    sections = []
    for name in SCENARIOS:
        if name not in chosen:
            continue
        print(f"{name}...", file=sys.stderr, flush=True)
        sections.append(SCENARIOS[name](sizes, LIFETIMES if write else None))
    command = "python bench/run.py" + (" --quick" if args.quick else "")
    minutes = (time.monotonic() - started) / 60
    machine = f"Measured on {describeMachine()}, with `{command}` ({minutes:.1f} minutes)."
    text = "\n\n".join([wrap(machine)] + [s.markdown() for s in sections])
    print(text)
    if write:
        writeResults(text)


if __name__ == "__main__":
    main()
