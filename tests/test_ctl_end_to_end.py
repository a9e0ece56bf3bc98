"""End-to-end: recyclerctl, the installed console script and C{python -m recycler.ctl},
against a real server."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.harness import AdminClient, waitUntil

SCRIPT = shutil.which("recyclerctl", path=os.path.dirname(sys.executable))
CONSOLE_SCRIPT = [SCRIPT or "recyclerctl"]
MODULE = [sys.executable, "-m", "recycler.ctl"]


def ctl(*args: str, client: list[str] = CONSOLE_SCRIPT, **environ: str):
    """Run recyclerctl to the end, without the caller's RECYCLER_* variables."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RECYCLER_")}
    return subprocess.run(
        [*client, *args], env={**env, **environ}, capture_output=True, text=True, timeout=60
    )


def readyCount(port: int) -> Counter[str]:
    with AdminClient(port) as admin:
        return Counter(worker["state"] for worker in admin.json("list")["workers"])


class Output:
    """The output of a running process, read line by line with deadlines."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def readUntil(self, marker: bytes, timeout: float = 15) -> bytes:
        """Everything up to and including C{marker}; fails at the deadline."""
        deadline = time.monotonic() + timeout
        while marker not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {marker!r} within {timeout}s: {self.buffer[-2000:]!r}")
            if select.select([self.fd], [], [], remaining)[0]:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # a pty whose other side closed
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"output ended before {marker!r}: {self.buffer!r}")
                self.buffer += chunk
        found, _, self.buffer = self.buffer.partition(marker)
        return found + marker


def test_script():
    """The console script is installed next to this Python."""
    assert SCRIPT is not None


def test_listJsonAndScale(startServer):
    """list --json through both entry points; scale 2 drains one; errors go to stderr, status 1."""
    server = startServer("--workers", "3", "--ttl", "off")
    server.waitReady(3)
    admin = f"tcp:{server.adminPort}:interface=127.0.0.1"
    for client in (CONSOLE_SCRIPT, MODULE):
        result = ctl("--admin", admin, "list", "--json", client=client)
        assert result.returncode == 0, result.stderr
        reply = json.loads(result.stdout)
        assert reply["ok"] and reply["target"] == 3
        assert [worker["state"] for worker in reply["workers"]] == ["ready"] * 3

    result = ctl("scale", "2", client=MODULE, RECYCLER_ADMIN=admin)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    waitUntil(lambda: readyCount(server.adminPort) == Counter(ready=2), 15, "2 workers left")
    listing = ctl("--admin", admin, "list")
    assert listing.returncode == 0
    lines = listing.stdout.splitlines()
    assert lines[0] == "target 2, 2 live (0 starting, 2 ready, 0 draining)"
    assert sum(" ready " in line for line in lines) == 2 and lines[-1] != "ok"

    refused = ctl("--admin", admin, "kill", "99")
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == "error: worker 99 does not exist\n"


def test_tokens(startServer, tmp_path):
    """A wrong or missing token exits 1 with the server's message; a right one works."""
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    server = startServer("--workers", "1", "--ttl", "off", "--admin-token-file", str(token))
    server.waitReady(1)
    admin = f"tcp:{server.adminPort}"
    wrong = ctl("list", RECYCLER_ADMIN=admin, RECYCLER_ADMIN_TOKEN="wrong")
    assert (wrong.returncode, wrong.stdout, wrong.stderr) == (1, "", "error: bad token\n")
    missing = ctl("list", RECYCLER_ADMIN=admin)
    assert (missing.returncode, missing.stderr) == (1, "error: authentication required\n")
    right = ctl("--admin", admin, "--token-file", str(token), "ttl")
    assert (right.returncode, right.stdout) == (0, "ttl off\n")


def test_unreachableAndUsage():
    """No server: exit 3 with one line; a usage error: exit 2 with one line; no traceback."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        result = ctl("--admin", f"tcp:{unused.getsockname()[1]}", "list")
    assert result.returncode == 3
    assert result.stderr.startswith("recyclerctl: cannot connect to the admin port at 127.0.0.1:")
    assert result.stderr.count("\n") == 1
    usage = ctl("--admin", "ssl:10081", "list")
    assert usage.returncode == 2 and usage.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr + usage.stderr


def test_topOnce(startServer):
    """top --once prints one frame: the pool's counts and a row for every worker."""
    server = startServer("--workers", "3", "--ttl", "off")
    server.waitReady(3)
    admin = f"tcp:{server.adminPort}"
    result = ctl("--admin", admin, "top", "--once", "--interval", "0.5")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("target 3, 3 live (0 starting, 3 ready, 0 draining); ")
    header = next(line for line in lines if line.lstrip().startswith("ID"))
    assert header.split() == ["ID", "PID", "STATE", "AGE", "TTL", "REQ/S", "INFLIGHT",
                              "RSS(MiB)", "SERVED", "REASON"]  # fmt: skip
    rows = [line.split() for line in lines[lines.index(header) + 1 :]]
    with AdminClient(server.adminPort) as client:
        workers = client.json("list")["workers"]
    assert sorted((row[0], row[1], row[2]) for row in rows) == sorted(
        (str(w["id"]), str(w["pid"]), "ready") for w in workers
    )


def test_serverAndClientFromOneConfigFile(startServer, tmp_path):
    """A server started with --config has the file's pool; recyclerctl --config finds it."""
    sock, token = tmp_path / "admin.sock", tmp_path / "token"
    token.write_text("s3cret\n")
    config = tmp_path / "recycler.toml"
    config.write_text(
        f'workers = 3\nttl = "off"\nadmin = "unix:{sock}"\nadmin-token-file = "{token}"\n'
    )
    server = startServer("--config", str(config), admin=f"unix:{sock}")
    server.waitReady(3)
    result = ctl("--config", str(config), "list", "--json")
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["target"] == 3
    assert [worker["state"] for worker in reply["workers"]] == ["ready"] * 3


def test_promptWithHistory(startServer, tmp_path):
    """On a terminal: a prompt, replies, the history file, and Ctrl-D exits 0."""
    server = startServer("--workers", "1", "--ttl", "off")
    server.waitReady(1)
    env = {key: value for key, value in os.environ.items() if not key.startswith("RECYCLER_")}
    env.update(HOME=str(tmp_path), RECYCLER_ADMIN=f"tcp:{server.adminPort}", TERM="dumb")
    main, terminal = pty.openpty()
    process = subprocess.Popen(
        CONSOLE_SCRIPT, stdin=terminal, stdout=terminal, stderr=terminal, env=env
    )
    os.close(terminal)
    try:
        output = Output(main)
        assert b"'help' lists the commands" in output.readUntil(b"recycler> ")
        os.write(main, b"ttl\n")
        assert b"ttl off" in output.readUntil(b"recycler> ")
        os.write(main, b"kill 99\n")
        assert b"error: worker 99 does not exist" in output.readUntil(b"recycler> ")
        os.write(main, b"\x04")
        assert process.wait(10) == 1  # the status of the last command
    finally:
        process.kill()
        process.wait()
        os.close(main)
    assert Path(tmp_path, ".recyclerctl_history").read_text().split() == ["ttl", "kill", "99"]


@pytest.mark.parametrize("client", [CONSOLE_SCRIPT, MODULE], ids=["script", "module"])
def test_watchUntilInterrupted(startServer, client):
    """--json watch streams events; SIGINT ends the watch cleanly, status 0."""
    server = startServer("--workers", "2", "--ttl", "off")
    server.waitReady(2)
    admin = f"tcp:{server.adminPort}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("RECYCLER_")}
    process = subprocess.Popen(
        [*client, "--admin", admin, "--json", "watch"],
        stdout=subprocess.PIPE,
        env=env,
        # A shell's background job (a CI runner's, say) ignores SIGINT, and its
        # children inherit that: give the client the default, as a terminal's has.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        output = Output(process.stdout.fileno())
        assert json.loads(output.readUntil(b"\n"))["watching"] is True
        with AdminClient(server.adminPort) as adminClient:
            victim = adminClient.json("list")["workers"][0]["id"]
        assert ctl("--admin", admin, "kill", str(victim)).returncode == 0
        while True:
            event = json.loads(output.readUntil(b"\n"))
            if event.get("event") == "exited" and event["workerId"] == victim:
                break
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 0
        rest = output.buffer + process.stdout.read()
        assert json.loads(rest.splitlines()[-1]) == {"ok": True, "version": 1, "watching": False}
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
