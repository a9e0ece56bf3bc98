"""Benchmarks: start each server, load it on 127.0.0.1 with ab and wrk, print one table each.

    python bench/run.py            # full run (about 12 minutes): tables and the lifetimes
                                   # plot written into docs/
    python bench/run.py --quick    # every scenario shrunk (under 3 minutes), nothing written
    python bench/run.py --only hello,scale   # some scenarios, nothing written

Needs the test extras and the bench extra (C{pip install -e '.[test,bench]'}: matplotlib,
gunicorn), ab (Debian: apache2-utils) and wrk; node for the Node.js seed and gunicorn
are optional peers. recycler forks its workers from a pre-imported fork server
(C{--spawn fork}, the default) or execs a fresh interpreter per worker (C{--spawn exec});
the scenarios that compare the two run both in the same invocation. The scenarios:

 1. C{seed}: the Node.js cluster example's workload (4 workers, TTL 0-5 s, 1 s per
    request, C{ab -c 20 -n 500}): recycler (default spawn mode) with recycling on and
    off, the Node.js seed with recycling on and off. Its recycler run draws
    C{docs/lifetimes.png}.
 2. C{hello}: a zero-delay hello app, 4 workers, under C{wrk -t2 -c 50 -d 10s}
    (keep-alive) and C{ab -c 50 -n 50000}, recycling about once a second and off;
    recycler forking and exec'ing its workers, and gunicorn (gthread, C{--max-requests}
    calibrated from its own recycling-off run); each server's memory (PSS) per worker
    after the load. 50000 requests, not 20000: 20000 last 4-6 s here, which leaves room
    for one or two recycles only.
 3. C{respawn}: spawn-to-ready latency and CPU until ready over 50 recycles of 2
    workers with C{--ttl 0.2:0.4}, idle and under a saturating C{wrk -c 50}, fork and exec.
 4. C{ttl01}: 4 workers, C{--ttl 0:1}, under C{wrk -c 50} for 15 s: recycles done
    against those the TTLs ask for, socket errors, and the ready workers sampled every
    50 ms through the admin port, fork and exec.
 5. C{scale}: 32 workers, C{--ttl 1:2}, C{ab -c 50 -n 100000} of the hello app, then
    idle: failures, req/s, recycles against those asked, and the master's CPU, fork and
    exec. 100000 requests (about 10 s) so that the recycle rate is measured over some
    200 recycles asked.
 6. C{wsgi}: the hello app as WSGI (C{bench/hello_wsgi.py}), 4 workers, under
    C{wrk -t2 -c 50 -d 8s} and C{ab -c 50 -n 40000}: recycler's WSGI container threaded
    (C{--threads 10}) and synchronous (C{--threads 0}, the default),
    gunicorn sync and gthread (1 and 4 threads), recycler's native resource as the
    reference, and a one-route Flask app (C{bench/flask_app.py}) under recycler and
    gunicorn sync; recycling off for all, on (C{--ttl 2:6}, calibrated
    C{--max-requests}) for recycler's WSGI modes and gunicorn's best, recycler's modes in
    3 alternating off/on pairs. About 7 minutes.

Every run is bounded (ab by its request count or time limit, wrk by its duration) and
every server is killed, process group and all, when its run ends.
"""

from __future__ import annotations

import argparse
import json
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
import threading
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
SPAWNS = ("fork", "exec")  # recycler's spawn modes; fork is the default

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
    helloPairs: int
    wrkSeconds: int
    respawns: int
    ttl01Seconds: int
    scaleRequests: int
    scaleIdle: int
    wsgiRequests: int
    wsgiSeconds: int
    wsgiPairs: int


FULL = Sizes(
    seedRequests=500,
    helloRequests=150000,
    helloPairs=3,
    wrkSeconds=10,
    respawns=50,
    ttl01Seconds=15,
    scaleRequests=100000,
    scaleIdle=10,
    wsgiRequests=40000,
    wsgiSeconds=8,
    wsgiPairs=3,
)
QUICK = Sizes(
    seedRequests=60,
    helloRequests=6000,
    helloPairs=1,
    wrkSeconds=3,
    respawns=10,
    ttl01Seconds=4,
    scaleRequests=20000,
    scaleIdle=3,
    wsgiRequests=3000,
    wsgiSeconds=2,
    wsgiPairs=1,
)


# Servers. Each one is a context manager yielding a Target: its URL and a recycle count.


class Target(Protocol):
    """A running server under test."""

    url: str

    def recycles(self) -> int:
        """How many workers were recycled so far."""

    def workerPids(self) -> list[int]:
        """The pids of its workers now."""

    def forkServerPid(self) -> int | None:
        """The pid of the process its workers are forked from, if it is not the master."""


class RecyclerTarget:
    """A recycler master run by the test harness; recycles are its C{exited} events."""

    def __init__(self, server: Server) -> None:
        """Wrap a started harness L{Server}."""
        self.server = server
        self.url = server.url

    def recycles(self) -> int:
        """Workers that have exited so far."""
        return len(self.server.eventsOf("exited"))

    def workerPids(self) -> list[int]:
        """Workers born and not exited (by the master's log)."""
        return sorted(self.server.liveWorkerPids())

    def forkServerPid(self) -> int | None:
        """The latest fork server's pid, from the master's log (L{None} with C{--spawn exec})."""
        pids = [e["forkServerPid"] for e in self.server.events if "forkServerPid" in e]
        return pids[-1] if pids else None


class LogTarget:
    """A server whose recycles are counted from lines of its output file."""

    def __init__(self, url: str, output: Path, pattern: str, pid: int) -> None:
        """Count the lines of C{output} that match C{pattern}; C{pid} is its main process."""
        self.url = url
        self.output = output
        self.pattern = pattern
        self.pid = pid

    def recycles(self) -> int:
        """Matching lines so far."""
        return len(re.findall(self.pattern, self.output.read_text(errors="replace")))

    def workerPids(self) -> list[int]:
        """The main process's children (gunicorn's workers)."""
        import psutil

        return [child.pid for child in psutil.Process(self.pid).children()]

    def forkServerPid(self) -> int | None:
        """None: its workers are forked by its main process."""
        return None


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
            yield LogTarget(f"http://127.0.0.1:{port}/", output, pattern, process.pid)
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


def gunicorn(
    maxRequests: int = 0,
    jitter: int = 0,
    workerClass: str = "gthread",
    threads: int = 1,
    app: str = "hello_wsgi:application",
) -> AbstractContextManager[LogTarget]:
    """
    gunicorn, 4 workers of C{workerClass} (C{sync} or C{gthread} with C{threads}
    threads), serving C{app} from C{bench/} (C{bench/hello_wsgi.py} by default).
    """
    port = freePort()
    command = [
        sys.executable, "-m", "gunicorn", "--pythonpath", str(BENCH), "-k", workerClass,
        "-w", "4", "-b", f"127.0.0.1:{port}", "--error-logfile", "-", "--log-level", "info",
    ]  # fmt: skip
    if workerClass == "gthread":
        command += ["--threads", str(threads)]
    if maxRequests:
        command += ["--max-requests", str(maxRequests), "--max-requests-jitter", str(jitter)]
    command.append(app)
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


def hasFlask() -> bool:
    """Whether Flask is importable (a test extra)."""
    return find_spec("flask") is not None


# What a process costs, from /proc.


def schedstat(pid: int) -> tuple[float, float] | None:
    """
    How long (ms) C{pid}'s main thread has run, and waited on a run queue, so far:
    the first two fields of C{/proc/PID/schedstat}, in ns (psutil's times tick at
    10 ms, too coarse for a fork).
    """
    try:
        ran, waited = Path(f"/proc/{pid}/schedstat").read_text().split()[:2]
        return int(ran) / 1e6, int(waited) / 1e6
    except (OSError, ValueError):
        return None


def cpuMilliseconds(pid: int) -> float | None:
    """CPU time (ms) C{pid}'s main thread has run so far (L{schedstat})."""
    stat = schedstat(pid)
    return None if stat is None else stat[0]


def pssMiB(pid: int) -> float | None:
    """C{pid}'s proportional set size (MiB), from the C{Pss:} line of C{/proc/PID/smaps_rollup}."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    match = re.search(r"^Pss:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else None


def memory(target: Target) -> Result:
    """
    The median PSS (MiB) of C{target}'s workers now, and its fork server's
    (NaN where there is nothing to measure).
    """
    sizes = [m for m in map(pssMiB, target.workerPids()) if m is not None]
    forkServer = target.forkServerPid()
    forkServerPss = pssMiB(forkServer) if forkServer is not None else None
    return {
        "pss": statistics.median(sizes) if sizes else float("nan"),
        "forkServerPss": float("nan") if forkServerPss is None else forkServerPss,
    }


class ReadyCPU:
    """
    The CPU each worker of a recycler took until ready, and how long it waited for
    a CPU meanwhile: its schedstat read as soon as the master logs it C{ready} (from
    a thread woken by every chunk of that log). A worker may have served a few
    requests by then under load; idle it has not.
    """

    def __init__(self, server: Server) -> None:
        """Start watching C{server}'s log; L{stop} ends it."""
        self.server = server
        self.cpu: dict[int, float] = {}  # workerId -> ms run
        self.wait: dict[int, float] = {}  # workerId -> ms runnable but not running
        self._seen = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _check(self, events: list[dict[str, Any]]) -> bool:
        for event in events[self._seen :]:
            if event.get("event") == "ready":
                stat = schedstat(event["pid"])
                if stat is not None:
                    self.cpu[event["workerId"]], self.wait[event["workerId"]] = stat
        self._seen = len(events)
        return self._stopping.is_set()

    def _watch(self) -> None:
        try:
            self.server.waitFor(self._check, timeout=3600)
        except AssertionError:
            pass

    def stop(self) -> None:
        """Stop watching."""
        self._stopping.set()
        self._thread.join(5)

    def __enter__(self) -> ReadyCPU:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class AdminClient:
    """A blocking client of a recycler's admin port, for C{list --json}."""

    def __init__(self, port: int) -> None:
        """Connect to 127.0.0.1:C{port}."""
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=10)
        self._file = self.socket.makefile("rb")

    def readyWorkers(self) -> int:
        """How many workers C{list} shows C{ready} (serving) now."""
        self.socket.sendall(b"list --json\n")
        workers = json.loads(self._file.readline())["workers"]
        return sum(1 for worker in workers if worker["state"] == "ready")

    def close(self) -> None:
        """Close the connection."""
        self._file.close()
        self.socket.close()


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


def mebibytes(value: float) -> str:
    """MiB to 1 decimal, or a dash for NaN (nothing measured)."""
    return NONE if value != value else f"{value:.1f}"


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
        f"4 workers, every request waits 1 s, `ab -r -c 20 -n {sizes.seedRequests}`; recycler "
        "forks its workers (`--spawn fork`, the default). "
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


MEDIAN_KEYS = ("rps", "recycles", "seconds", "startup", "pss", "forkServerPss")
"""The figures of a hello run given as the median of its runs."""


def helloScenario(sizes: Sizes) -> Section:
    """
    Scenario 2: hello app under wrk and ab, recycling about once a second and off,
    in alternating pairs; recycler forking and exec'ing its workers, and gunicorn.
    """
    loads: list[tuple[str, Callable[[str], Result]]] = [
        (f"wrk -t2 -c 50 -d {sizes.wrkSeconds}s", lambda url: wrk(url, 50, sizes.wrkSeconds)),
        (f"ab -c 50 -n {sizes.helloRequests}", lambda url: ab(url, 50, sizes.helloRequests)),
    ]
    fork = "recycler, fork"
    rows = []
    for loadName, load in loads:
        runs: dict[tuple[str, str], list[Result]] = {}
        split = {}
        for spawn in SPAWNS:
            server = f"recycler, {spawn}"
            # Off and on alternate, so that a drift of the machine hits both alike.
            for pair in range(sizes.helloPairs):
                for recycling, ttl in (("off", "off"), ("TTL 2-6 s", "2:6")):
                    with recycler("--spawn", spawn, "--ttl", ttl, "--app", HELLO) as target:
                        result = measure(target, load) | memory(target)
                    runs.setdefault((server, recycling), []).append(result)
                    if ttl == "off" and pair == 0:
                        split[server, recycling] = shares(target)
                    report(f"{loadName}, {server}, {recycling}, pair {pair + 1}", result)
        if hasGunicorn():
            with gunicorn() as target:
                off = measure(target, load) | memory(target)
            runs["gunicorn", "off"] = [off]
            report(f"{loadName}, gunicorn, off", off)
            # A worker serves rps/4 requests a second: to live 2-6 s, as recycler's workers
            # with --ttl 2:6 do, it serves rps/2 requests plus 0..rps more.
            maxRequests, jitter = round(off["rps"] / 2), round(off["rps"])
            recycling = f"max-requests {maxRequests} + 0-{jitter}"
            with gunicorn(maxRequests, jitter) as target:
                runs["gunicorn", recycling] = [measure(target, load) | memory(target)]
            report(f"{loadName}, gunicorn, {recycling}", runs["gunicorn", recycling][0])
        offRuns = {server: rs for (server, recycling), rs in runs.items() if recycling == "off"}
        for (server, recycling), rs in runs.items():
            r = {key: statistics.median([run[key] for run in rs]) for key in MEDIAN_KEYS}
            pairs = [run["rps"] / off["rps"] for run, off in zip(rs, offRuns[server], strict=True)]
            mine = {
                s: statistics.median([run["rps"] for run in rs2])
                for (s, rec), rs2 in runs.items()
                if (rec == "off") == (recycling == "off")
            }
            rows.append(
                [
                    loadName,
                    server,
                    recycling,
                    str(len(rs)),
                    f"{r['rps']:.0f}",
                    f"{statistics.median(pairs):.2f}",
                    " ".join(f"{p:.2f}" for p in pairs) if len(pairs) > 1 else NONE,
                    NONE if server == fork else ratio(mine[fork], r["rps"]),
                    f"{sum(run['errors'] for run in rs):.0f}",
                    f"{sum(run['non2xx'] for run in rs):.0f}",
                    f"{r['recycles'] / r['seconds']:.2f}",
                    milliseconds(r["startup"]),
                    mebibytes(r["pss"]),
                    mebibytes(r["forkServerPss"]),
                    split.get((server, recycling), ""),
                ]
            )
    header = ["load", "server", "recycling", "runs", "req/s", "on / off", "on / off per pair",
              "recycler, fork / this", "errors", "non-2xx", "recycles/s",
              "spawn → ready median ms", "PSS per worker MiB", "fork server PSS MiB",
              "split % (per worker)"]  # fmt: skip
    return Section(
        "Hello app: recycler (fork, exec) and gunicorn",
        "4 workers, a zero-delay app answering `hello` (`recycler.demo:hello`; for gunicorn "
        f"`bench/hello_wsgi.py`). recycler runs {sizes.helloPairs} pairs per spawn mode and "
        "load, recycling off then on, one after the other; its req/s and other figures are "
        'the medians of its runs, "on / off" the median of the pairs\' ratios. For gunicorn '
        "(one run each) the worker is gthread with 1 thread. "
        '"recycler, fork" forks its '
        "workers from the fork server (`--spawn fork`, the default, without `--preload`), "
        '"recycler, exec" starts each one as a fresh `python -m recycler.worker` '
        '(`--spawn exec`). "errors" are wrk\'s socket errors '
        "(connect, read, write, timeout) or ab's failed requests. gunicorn's `--max-requests` "
        "is calibrated from its own recycling-off req/s in the same invocation: a worker "
        "serving a quarter of that rate then lives 2-6 s, like recycler's with `--ttl 2:6` "
        "(about one recycle a second among 4); its recycles are its `Autorestarting worker` "
        'lines. "spawn → ready" is the median start-up of the recycler workers that became '
        'ready during the load. "PSS per worker" is the median proportional set size '
        "(`Pss:` of `/proc/PID/smaps_rollup`) of the workers alive at the end of the load, "
        '"fork server PSS" the fork server\'s own (its pages are shared with the workers it '
        'forked, so PSS splits them between it and them). "split" is each worker\'s share '
        "of the requests with recycling off, from its final counters.",
        markdownTable(header, rows),
    )


# Scenario 3: respawn latency.


def respawnRun(respawns: int, spawn: str, load: list[str] | None) -> Result:
    """
    2 workers with C{--ttl 0.2:0.4} and C{--spawn spawn}, until C{respawns}
    replacements became ready, optionally under a C{load} (a command given the
    URL, killed once done): spawn-to-ready, CPU until ready and drain times of
    the replacements, and the fork server's CPU per worker forked.
    """
    args = ("--spawn", spawn, "--workers", "2", "--ttl", "0.2:0.4", "--app", HELLO)
    with recycler(*args, workers=2) as target:
        server = target.server
        readyCPU = ReadyCPU(server)
        forkServer = target.forkServerPid()
        forkServerCPU = cpuMilliseconds(forkServer) if forkServer is not None else None
        masterCPU = cpuMilliseconds(server.process.pid)
        bornBefore = len(server.eventsOf("born"))
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
            readyCPU.stop()
        spawned = len(server.eventsOf("born")) - bornBefore
        masterCPU = (cpuMilliseconds(server.process.pid) - masterCPU) / spawned
        if forkServerCPU is not None:
            forkServerCPU = (cpuMilliseconds(forkServer) - forkServerCPU) / spawned
        ready = server.eventsOf("ready")[1 : 2 + respawns]
        startups = [1000 * e["startup"] for e in ready[1:]]
        cpu = [readyCPU.cpu[e["workerId"]] for e in ready[1:] if e["workerId"] in readyCPU.cpu]
        wait = [readyCPU.wait[e["workerId"]] for e in ready[1:] if e["workerId"] in readyCPU.wait]
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
        "cpu": statistics.median(cpu) if cpu else float("nan"),
        "cpuP95": percentile(cpu, 0.95) if cpu else float("nan"),
        "cpuMeasured": len(cpu),
        "wait": statistics.median(wait) if wait else float("nan"),
        "forkServerCPU": float("nan") if forkServerCPU is None else forkServerCPU,
        "masterCPU": masterCPU,
        "drain": statistics.median(drains) if drains else float("nan"),
        "rate": len(startups) / (ready[-1]["log_time"] - ready[0]["log_time"]),
    }


def respawnScenario(sizes: Sizes) -> Section:
    """
    Scenario 3: how long a replacement takes from spawn to ready, and how much CPU,
    idle and under a saturating load, forked and exec'd.
    """
    seconds = 30 + 3 * sizes.respawns  # wrk's bound; it is killed once enough respawned
    runs = [
        ("idle", None),
        ("under `wrk -t2 -c 50`", ["wrk", "-t2", "-c50", f"-d{seconds}s"]),
    ]
    rows = []
    results: dict[tuple[str, str], Result] = {}
    for name, load in runs:
        for spawn in SPAWNS:
            results[name, spawn] = result = respawnRun(sizes.respawns, spawn, load)
            report(f"respawn, {name}, {spawn}", result)
            rows.append(
                [
                    name,
                    spawn,
                    f"{result['respawns']:.0f}",
                    f"{result['median']:.1f}",
                    f"{result['p95']:.1f}",
                    f"{result['max']:.0f}",
                    f"{result['cpu']:.1f}",
                    f"{result['cpuP95']:.1f}",
                    f"{result['wait']:.1f}",
                    f"{result['forkServerCPU']:.1f}" if spawn == "fork" else NONE,
                    f"{result['masterCPU']:.1f}",
                    f"{result['drain']:.0f}",
                    f"{result['rate']:.2f}",
                ]
            )
        rows.append(
            [
                name,
                "exec / fork",
                NONE,
                ratio(results[name, "exec"]["median"], results[name, "fork"]["median"]),
                ratio(results[name, "exec"]["p95"], results[name, "fork"]["p95"]),
                NONE,
                ratio(results[name, "exec"]["cpu"], results[name, "fork"]["cpu"]),
                NONE,
                NONE,
                NONE,
                ratio(results[name, "exec"]["masterCPU"], results[name, "fork"]["masterCPU"]),
                NONE,
                ratio(results[name, "exec"]["rate"], results[name, "fork"]["rate"]),
            ]
        )
    header = ["condition", "spawn", "respawns", "spawn → ready median ms", "p95 ms", "max ms",
              "CPU until ready median ms", "CPU p95 ms", "run-queue wait median ms",
              "fork server CPU per fork ms",
              "master CPU per spawn ms", "drain median ms", "recycles/s"]  # fmt: skip
    return Section(
        "Respawn latency and cost: fork and exec",
        f"2 workers, `recycler.demo:hello`, `--ttl 0.2:0.4`, until {sizes.respawns} "
        "replacement workers became ready after the first 2; idle, and under "
        "`wrk -t2 -c 50` (keep-alive, saturating the 2 CPUs; stopped once enough "
        'respawned). "spawn → ready" is the `startup` field of each replacement\'s '
        "`ready` event (from the master's request, a fork or a `spawnProcess`, to the "
        'worker\'s `ready` line). "CPU until ready" is the first field of the '
        "worker's `/proc/PID/schedstat` (its CPU time, in ns) read as soon as the master "
        "logged it ready: exec, the whole interpreter start and imports; fork, the "
        "child's own work from the fork on (under load it may include a few requests "
        'served before the read). "run-queue wait" is its second field: how long the '
        'worker was runnable but waiting for a CPU before it was ready. "fork server CPU '
        "per fork\" is the fork server's own "
        "schedstat over the run divided by the workers it forked (the short-lived "
        'intermediate of the double fork is not counted); "master CPU per spawn" the '
        "master's (its main thread's) over the run divided by the workers it spawned: "
        "everything it did meanwhile, exec's `spawnProcess` or fork's pipes and hand-over, "
        'its log and the workers\' status messages included. "drain" is `draining` → `exited` '
        'of the recycled workers; "recycles/s" the rate achieved (one recycle at a time, '
        "`--max-draining 1`, a slot freed once the replacement is ready).",
        markdownTable(header, rows),
    )


# Scenario 4: TTL 0-1 s, does the pool recycle as often as the TTLs ask?


def ttl01Run(seconds: int, spawn: str) -> Result:
    """
    4 workers, C{--ttl 0:1}, under C{wrk -c 50} for C{seconds}: wrk's result, the
    recycles, the TTL overruns, and the ready workers sampled every 50 ms.
    """
    with recycler("--spawn", spawn, "--ttl", "0:1", "--app", HELLO) as target:
        server = target.server
        admin = AdminClient(server.adminPort)
        samples: list[int] = []
        done = threading.Event()

        def sample() -> None:
            """Count the ready workers every 50 ms until C{done}."""
            tick = time.monotonic()
            while not done.is_set():
                samples.append(admin.readyWorkers())
                tick += 0.05
                done.wait(max(0.0, tick - time.monotonic()))

        sampler = threading.Thread(target=sample, daemon=True)
        before = {kind: len(server.eventsOf(kind)) for kind in ("exited", "ready", "draining")}
        startedAt = time.time()
        readyCPU = ReadyCPU(server)
        sampler.start()
        try:
            result = wrk(target.url, 50, seconds)
        finally:
            done.set()
            sampler.join(5)
            admin.close()
            readyCPU.stop()
        result["recycles"] = len(server.eventsOf("exited")) - before["exited"]
        readied = server.eventsOf("ready")[before["ready"] :]
        startups = [1000 * e["startup"] for e in readied]
        result["startup"] = statistics.median(startups) if startups else float("nan")
        waits = [readyCPU.wait[e["workerId"]] for e in readied if e["workerId"] in readyCPU.wait]
        result["wait"] = statistics.median(waits) if waits else float("nan")
        # How late each recycled worker was retired: from its TTL's end (ready + TTL) to
        # its draining (its replacement ready), for the workers drained during the load.
        ttlOf = {e["workerId"]: e["ttlSeconds"] for e in server.eventsOf("born")}
        readyAt = {e["workerId"]: e["log_time"] for e in server.eventsOf("ready")}
        overruns = [
            1000 * (e["log_time"] - readyAt[e["workerId"]] - ttlOf[e["workerId"]])
            for e in server.eventsOf("draining")[before["draining"] :]
            if e["log_time"] >= startedAt and e["workerId"] in readyAt
        ]
        result["overrun"] = statistics.median(overruns) if overruns else float("nan")
        result["samples"] = len(samples)
        result["minReady"] = min(samples) if samples else float("nan")
        result["below"] = sum(1 for n in samples if n < 4)
    return result


def ttl01Scenario(sizes: Sizes) -> Section:
    """Scenario 4: TTL 0-1 s under wrk, fork and exec: recycles done against asked."""
    seconds = sizes.ttl01Seconds
    asked = 4 * seconds / 0.5  # 4 slots, each asking for a new worker every 0.5 s on average
    rows = []
    for spawn in SPAWNS:
        r = ttl01Run(seconds, spawn)
        report(f"ttl01, {spawn}", r)
        rows.append(
            [
                spawn,
                f"{r['rps']:.0f}",
                f"{r['errors']:.0f}",
                f"{r['non2xx']:.0f}",
                f"{r['recycles']:.0f}",
                f"{asked:.0f}",
                f"{100 * r['recycles'] / asked:.0f}",
                milliseconds(r["startup"]),
                milliseconds(r["wait"]),
                milliseconds(r["overrun"]),
                f"{r['samples']:.0f}",
                f"{r['minReady']:.0f}",
                f"{r['below']:.0f}",
            ]
        )
    header = ["spawn", "req/s", "socket errors", "non-2xx", "recycles", "asked", "done / asked %",
              "spawn → ready median ms", "run-queue wait median ms", "TTL overrun median ms",
              "samples", "ready min",
              "samples < 4 ready"]  # fmt: skip
    return Section(
        "TTL 0-1 s: recycles done against asked",
        f"4 workers, `recycler.demo:hello`, `--ttl 0:1`, under `wrk -t2 -c 50 -d {seconds}s`. "
        '"recycles" are the workers that exited during the load; "asked" is what the TTLs '
        f"ask for: 4 workers * {seconds} s / 0.5 s (the mean TTL), each worker replaced the "
        "moment its TTL ends. A recycle cannot be quicker than a start-up, since a TTL counts "
        "from ready and the old worker serves until its replacement is ready: a slot's "
        'cycle is TTL + spawn → ready. "run-queue wait" is how long the workers that became '
        "ready during the load waited for a CPU until then (second field of "
        '`/proc/PID/schedstat`). "TTL overrun" is, for the workers drained during the '
        "load, how long after its TTL ended each was drained (its replacement's start-up plus "
        'any wait for a free recycle slot). "samples" are `list --json` replies on the admin '
        'port, one every 50 ms during the load; "ready min" is the fewest workers in state '
        "`ready` (serving, a retiring worker included) any of them showed.",
        markdownTable(header, rows),
    )


# Scenario 5: scale.


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
    """
    Scenario 5: 32 workers recycling every 1-2 s, under ab and idle, fork and exec:
    recycles done against asked, failures, the master's CPU.
    """
    runs = [
        ("fork", "off", ["--ttl", "off"]),
        ("fork", "TTL 1-2 s", ["--ttl", "1:2"]),
        ("fork", "off, `--worker-nice 10`", ["--ttl", "off", "--worker-nice", "10"]),
        ("fork", "TTL 1-2 s, `--worker-nice 10`", ["--ttl", "1:2", "--worker-nice", "10"]),
        ("exec", "off", ["--ttl", "off"]),
        ("exec", "TTL 1-2 s", ["--ttl", "1:2"]),
        ("exec", "TTL 1-2 s, `--worker-nice 10`", ["--ttl", "1:2", "--worker-nice", "10"]),
    ]
    load = f"ab -c 50 -n {sizes.scaleRequests}"
    idle = f"idle {sizes.scaleIdle} s"
    results: dict[tuple[str, str, str], Result] = {}
    for spawn, name, args in runs:
        options = ("--spawn", spawn, "--workers", "32", "--app", HELLO, *args)
        with recycler(*options, workers=32) as target:
            server = target.server
            with ReadyCPU(server) as readyCPU:
                if args[1] != "off":  # start measuring once the first TTLs have run out
                    server.waitFor(lambda events: "exited" in {e.get("event") for e in events}, 60)
                phases = {
                    load: window(target, lambda: ab(target.url, 50, sizes.scaleRequests)),
                    idle: window(target, lambda: pause(sizes.scaleIdle)),
                }
                for phase, result in phases.items():
                    born = result.pop("born")
                    result["startup"] = startupOf(server, born)
                    waits = [readyCPU.wait[w] for w in born if w in readyCPU.wait]
                    result["wait"] = statistics.median(waits) if waits else float("nan")
                    # 32 workers, each asking to be replaced every 1.5 s on average.
                    result["asked"] = 0 if args[1] == "off" else 32 * result["seconds"] / 1.5
                    results[spawn, name, phase] = result
                    report(f"scale, {spawn}, {name}, {phase}", result)
    rows = []
    for (spawn, name, phase), r in results.items():
        loaded = phase == load
        off = results[spawn, "off", load]["rps"]
        rows.append(
            [
                spawn,
                name,
                phase,
                f"{r['complete']:.0f}" if loaded else NONE,
                f"{r['failed']:.0f}" if loaded else NONE,
                f"{r['rps']:.0f}" if loaded else NONE,
                ratio(r["rps"], off) if loaded else NONE,
                f"{r['recycles']:.0f}",
                f"{r['asked']:.0f}" if r["asked"] else NONE,
                f"{100 * r['recycles'] / r['asked']:.0f}" if r["asked"] else NONE,
                f"{r['recycles'] / r['seconds']:.1f}",
                milliseconds(r["startup"]),
                milliseconds(r["wait"]),
                f"{r['cpu']:.1f}",
            ]
        )
    header = ["spawn", "recycling", "phase", "complete", "failed", "req/s", "on / off",
              "recycles", "asked", "done / asked %", "recycles/s", "spawn → ready median ms",
              "run-queue wait median ms", "master CPU %"]  # fmt: skip
    return Section(
        "Scale: 32 workers",
        "32 workers, `recycler.demo:hello`, forked (`--spawn fork`) and exec'd "
        "(`--spawn exec`). Each pool is measured once its first TTL ran out, first under "
        f"`ab -r -c 50 -n {sizes.scaleRequests}`, then idle for {sizes.scaleIdle} s. "
        '"recycles" are the workers that exited in the phase; "asked" is 32 * the phase\'s '
        "seconds / 1.5 s (the mean of `--ttl 1:2`): about 21 a second. "
        '"on / off" compares with the same spawn mode\'s recycling-off run. '
        '"master CPU" is the master\'s user + system time in the phase (psutil), in % of one '
        'core; "spawn → ready" is the median start-up of the workers spawned in the phase '
        '(some became ready after it), "run-queue wait" how long they waited for a CPU '
        "until ready (the second field of their `/proc/PID/schedstat`, read once the master "
        "logged them ready).",
        markdownTable(header, rows),
    )


# Scenario 6: WSGI apps, recycler (threaded, sync) against gunicorn (sync, gthread) and native.


@dataclass(frozen=True)
class WSGIServer:
    """One server configuration of the C{wsgi} scenario."""

    app: str  # "hello" (bench/hello_wsgi.py, or recycler.demo:hello natively) or "Flask"
    server: str  # "recycler" or "gunicorn"
    mode: str  # how it serves the app, as shown in the table
    args: tuple[str, ...] = ()  # recycler: its options besides --ttl
    gunicornOptions: tuple[tuple[str, Any], ...] = ()  # gunicorn: keyword arguments of gunicorn()

    def start(self, recycling: tuple[int, int] | None) -> AbstractContextManager[Target]:
        """
        Start it, recycling off (L{None}) or on: recycler with C{--ttl 2:6}, gunicorn
        with C{recycling} as its C{--max-requests} and jitter.
        """
        if self.server == "recycler":
            return recycler("--ttl", "off" if recycling is None else "2:6", *self.args)
        maxRequests, jitter = recycling or (0, 0)
        return gunicorn(maxRequests, jitter, **dict(self.gunicornOptions))


WSGI_APPS = {"hello": "hello_wsgi:application", "Flask": "flask_app:app"}
WSGI_TTL = "TTL 2-6 s"


def wsgiServers() -> list[WSGIServer]:
    """The configurations run."""
    modes = [("WSGI, `--threads 10`", "10"), ("WSGI, `--threads 0`", "0")]
    servers = []
    for app in ("hello", "Flask"):
        if app == "Flask" and not hasFlask():
            continue
        for mode, threads in modes:
            servers.append(
                WSGIServer(app, "recycler", mode, ("--app", WSGI_APPS[app], "--threads", threads))
            )
        if app == "hello":
            servers.append(WSGIServer(app, "recycler", "native resource", ("--app", HELLO)))
        if hasGunicorn():
            kinds = [("`-k sync`", (("workerClass", "sync"),))]
            if app == "hello":
                kinds += [
                    (f"`-k gthread --threads {n}`", (("workerClass", "gthread"), ("threads", n)))
                    for n in (1, 4)
                ]
            for mode, options in kinds:
                servers.append(
                    WSGIServer(app, "gunicorn", mode, (), (*options, ("app", WSGI_APPS[app])))
                )
    return servers


def combined(runs: list[Result]) -> Result:
    """Runs of one server, setting and load as one: the median req/s, recycles; errors summed."""
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "recycles": statistics.median(r["recycles"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "non2xx": sum(r.get("non2xx", 0.0) for r in runs),
    }


def wsgiScenario(sizes: Sizes) -> Section:
    """
    Scenario 6: the same zero-delay WSGI app under recycler (threaded and synchronous),
    gunicorn (sync, gthread) and recycler's native resource, plus a Flask app; recycling
    off for all, on for recycler's WSGI modes and gunicorn's best.
    """
    # recycler's workers import the apps of bench/ (gunicorn gets --pythonpath).
    paths = [str(BENCH), *filter(None, [os.environ.get("PYTHONPATH")])]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)
    loads: list[tuple[str, Callable[[str], Result]]] = [
        (f"wrk -t2 -c 50 -d {sizes.wsgiSeconds}s", lambda url: wrk(url, 50, sizes.wsgiSeconds)),
        (f"ab -c 50 -n {sizes.wsgiRequests}", lambda url: ab(url, 50, sizes.wsgiRequests)),
    ]
    servers = wsgiServers()
    native = next(s for s in servers if s.mode == "native resource")
    runs: dict[tuple[WSGIServer, str, str], list[Result]] = {}  # (server, load, recycling)
    results: dict[tuple[WSGIServer, str, str], Result] = {}  # the same, runs combined

    def run(server: WSGIServer, recycling: str, calibration: tuple[int, int] | None, which):
        """Run the loads C{which} on one start of C{server}."""
        with server.start(calibration) as target:
            for loadName, load in which:
                result = measure(target, load)
                key = (server, loadName, recycling)
                runs.setdefault(key, []).append(result)
                results[key] = combined(runs[key])
                report(f"wsgi, {loadName}, {server.app}, {server.server} {server.mode}, "
                       f"{recycling}", result)  # fmt: skip

    def onOff(server: WSGIServer, loadName: str, recycling: str) -> str:
        """The median of the ratios of C{server}'s runs with C{recycling} to its runs without."""
        pairs = zip(runs[server, loadName, recycling], runs[server, loadName, "off"], strict=True)
        return f"{statistics.median(on['rps'] / off['rps'] for on, off in pairs):.2f}"

    paired = [s for s in servers if s.server == "recycler" and s.app == "hello" and s != native]
    for server in servers:  # recycling off: one start per server, both loads
        if server not in paired:
            run(server, "off", None, loads)
    for _ in range(sizes.wsgiPairs):  # recycler's WSGI modes: off and on alternate
        for server in paired:
            run(server, "off", None, loads)
            run(server, WSGI_TTL, (0, 0), loads)
    best: dict[tuple[str, str], WSGIServer] = {}  # (load, app) -> gunicorn's best, off
    for loadName, load in loads:
        for app in WSGI_APPS:
            ranked = [
                (results[s, loadName, "off"]["rps"], i, s)
                for i, s in enumerate(servers)
                if s.server == "gunicorn" and s.app == app
            ]
            if ranked:
                best[loadName, app] = max(ranked)[2]
        if (loadName, "hello") in best:  # recycling on: gunicorn's best, calibrated per load
            # A worker serving rps/4 a second lives 2-6 s with rps/2 + 0..rps requests.
            server = best[loadName, "hello"]
            rps = results[server, loadName, "off"]["rps"]
            maxRequests, jitter = round(rps / 2), round(rps)
            run(server, f"max-requests {maxRequests} + 0-{jitter}", (maxRequests, jitter),
                [(loadName, load)])  # fmt: skip

    rows = []
    proof = []
    for loadName, _ in loads:
        nativeOff = results[native, loadName, "off"]["rps"]
        for server in servers:
            for (s, ld, recycling), r in results.items():
                if s != server or ld != loadName:
                    continue
                on = recycling != "off"
                gBest = best.get((loadName, server.app))
                bestRps = None
                if gBest is not None:
                    bestRuns = [
                        rr["rps"]
                        for (ss, ll, rec), rr in results.items()
                        if ss == gBest and ll == loadName and (rec != "off") == on
                    ]
                    bestRps = bestRuns[0] if bestRuns else None
                isBest = server == gBest
                rows.append(
                    [
                        loadName,
                        server.app,
                        server.server,
                        server.mode + (" (best)" if isBest else ""),
                        recycling,
                        f"{r['rps']:.0f}",
                        onOff(server, loadName, recycling) if on else NONE,
                        NONE if isBest else ratio(r["rps"], bestRps),
                        NONE if on or server is native else ratio(r["rps"], nativeOff),
                        f"{r['errors']:.0f}",
                        f"{r['non2xx']:.0f}",
                        f"{r['recycles']:.0f}",
                    ]
                )
    header = ["load", "app", "server", "mode", "recycling", "req/s", "on / off",
              "this / gunicorn best", "this / recycler native", "errors", "non-2xx",
              "recycles"]  # fmt: skip
    for server in servers:
        if server.server != "recycler" or server.app != "hello" or server is native:
            continue
        figures = [server.mode]
        for loadName, _ in loads:
            off = results[server, loadName, "off"]["rps"]
            gBest = best.get((loadName, "hello"))
            figures.append(ratio(off, results[gBest, loadName, "off"]["rps"]) if gBest else NONE)
        wrkName = loads[0][0]
        figures.append(ratio(results[server, wrkName, "off"]["rps"],
                             results[native, wrkName, "off"]["rps"]))  # fmt: skip
        for loadName, _ in loads:
            figures.append(onOff(server, loadName, WSGI_TTL))
        errors = sum(r["errors"] + r["non2xx"] for (s, _, _), r in results.items() if s == server)
        figures.append(f"{errors:.0f}")
        proof.append(figures)
    proofHeader = ["recycler hello", "/ gunicorn best, wrk", "/ gunicorn best, ab",
                   "/ native, wrk", "on / off, wrk", "on / off, ab",
                   "errors + non-2xx"]  # fmt: skip
    skipped = []
    if not hasGunicorn():
        skipped.append("gunicorn is not installed, so its rows are left out")
    if not hasFlask():
        skipped.append("Flask is not installed, so the Flask rows are left out")
    note = (" Skipped: " + "; ".join(skipped) + ".") if skipped else ""
    return Section(
        "WSGI apps: recycler (threaded, synchronous) against gunicorn and the native resource",
        "4 workers serving the same zero-delay WSGI app (`bench/hello_wsgi.py`, which answers "
        "`hello` with the headers of `recycler.demo:hello`): recycler's WSGI container, "
        "threaded (`--threads 10`) and synchronous (`--threads 0`: the app runs in the "
        "reactor thread, one request at a time per worker); gunicorn's sync worker and its "
        "gthread worker with 1 and 4 threads; and recycler's native twisted.web resource "
        "(`recycler.demo:hello`) as the reference. A one-route Flask app "
        "(`bench/flask_app.py`) shows a real framework's cost, under recycler (each mode) "
        f"and gunicorn sync. Loads: `wrk -t2 -c 50 -d {sizes.wsgiSeconds}s` (keep-alive; "
        "gunicorn sync closes every connection) and "
        f"`ab -r -c 50 -n {sizes.wsgiRequests}` (a connection per request); one start per "
        "server and recycling setting, the loads one after the other. Every server runs with "
        "recycling off; recycler's WSGI modes on the hello app also with `--ttl 2:6`, and "
        "gunicorn's best configuration for each load (highest recycling-off req/s, marked "
        '"best") with `--max-requests` calibrated from that req/s as in the hello scenario '
        '(its workers too live 2-6 s). "on / off" is a server\'s req/s with recycling on '
        'over its own with recycling off; "this / gunicorn best" compares with gunicorn\'s '
        "best configuration on the same app, load and recycling (off with off, on with on); "
        '"this / recycler native" with the native resource, recycling off. "errors" are '
        "wrk's socket errors or ab's failed requests. The second table gathers the ratios "
        "recycler's WSGI modes are judged by, all from this invocation. recycler's WSGI "
        f"modes on the hello app run {sizes.wsgiPairs} alternating pairs of starts, "
        "recycling off then on (the machine's drift hits both alike): their req/s are the "
        'medians of their runs, their "on / off" the median of the pairs\' ratios, their '
        "errors and non-2xx summed over the runs." + note,
        markdownTable(header, rows) + "\n\n" + markdownTable(proofHeader, proof),
    )


# The whole run.

SCENARIOS: dict[str, Callable[[Sizes, Path | None], Section]] = {
    "seed": seedScenario,
    "hello": lambda sizes, plot: helloScenario(sizes),
    "respawn": lambda sizes, plot: respawnScenario(sizes),
    "ttl01": lambda sizes, plot: ttl01Scenario(sizes),
    "scale": lambda sizes, plot: scaleScenario(sizes),
    "wsgi": lambda sizes, plot: wsgiScenario(sizes),
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
