"""End-to-end: every kind of app through the real pool, with workers recycling."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import ssl
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from tests import wsgi_app
from tests.certificates import selfSigned
from tests.harness import load

RECYCLING = ("--workers", "2", "--ttl", "0:1")


async def loadWhileRecycling(server, total: int = 150, path: str = "") -> Counter:
    """Load the server until at least one worker was recycled meanwhile."""
    from twisted.internet import reactor

    await deferToThread(server.waitReady, 2)
    results = Counter(await load(reactor, server.url + path, total=total, concurrency=10))
    await deferToThread(server.waitFor, lambda events: server.eventsOf("exited"), 15)
    return results


@pytest_twisted.ensureDeferred
async def test_flaskApp(startServer):
    """A Flask app is served through WSGI; no request fails across recycles."""
    server = startServer(*RECYCLING, "--app", "examples.flask_app:app", "--threads", "4")
    results = await loadWhileRecycling(server)
    assert results == Counter({(200, b"Hello from Flask\n"): 150})
    assert any("WSGI app on 4 threads" in e.get("line", "") for e in server.events)


@pytest_twisted.ensureDeferred
async def test_webResource(startServer):
    """A plain twisted.web resource is served; no request fails across recycles."""
    server = startServer(*RECYCLING, "--app", "examples.web_resource:resource")
    results = await loadWhileRecycling(server)
    assert sum(results.values()) == 150
    assert all(code == 200 and body.startswith(b"Hello from twisted.web") for code, body in results)


@pytest.mark.parametrize(
    ("threads", "description"),
    [((), "WSGI app in the reactor thread"), (("--threads", "10"), "WSGI app on 10 threads")],
)
def test_validatedWSGIApp(startServer, threads, description):
    """
    A C{wsgiref.validate}d app (it takes C{*args}), named in Twisted's dotted
    form, is served as WSGI (in the reactor thread, the default, and on a
    thread pool): GET, HEAD, POST, a chunked request body and a streamed response
    all answer, the validator raises nothing, and the environ says the app
    runs in several processes, even with one worker.
    """
    app = ("--app", "tests.wsgi_app.validated")
    server = startServer("--workers", "1", "--ttl", "off", *app, *threads)
    server.waitReady(1)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    plain = {"Content-Type": "text/plain"}
    try:
        assert ask(connection, "GET", "/") == (200, b"hello\n")
        assert ask(connection, "HEAD", "/") == (200, b"")
        assert ask(connection, "POST", "/echo", b"a body", plain) == (200, b"a body")
        chunks = iter([b"a chunked", b" body"])
        assert ask(connection, "POST", "/echo", chunks, plain) == (200, b"a chunked body")
        connection.request("GET", "/stream")
        streamed = connection.getresponse()
        whole = b"".join(wsgi_app.STREAMED)
        if threads:  # a generator is streamed from a thread as it yields
            assert streamed.getheader("Transfer-Encoding") == "chunked"
        else:  # a short one is held in the reactor thread, and sent whole
            assert streamed.getheader("Content-Length") == str(len(whole))
        assert (streamed.status, streamed.read()) == (200, whole)
        status, body = ask(connection, "POST", "/environ", b"{}", plain)
    finally:
        connection.close()
    assert status == 200
    environ = json.loads(body)
    assert environ["wsgi.multiprocess"] is True
    assert "HTTP_CONTENT_TYPE" not in environ and "HTTP_CONTENT_LENGTH" not in environ
    server.signal(signal.SIGTERM)
    assert server.wait() == 0  # every line the worker wrote is in the output by now
    output = server.output()
    assert description in output
    for problem in ("AssertionError", "WSGIWarning", "WSGI application error", "Traceback"):
        assert problem not in output


def ask(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: object = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """One request on a keep-alive connection; an iterable body is sent chunked."""
    connection.request(method, path, body, headers or {})
    response = connection.getresponse()
    return response.status, response.read()


def echoRoundTrip(port: int, n: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(b"ping %d\n" % n)
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = connection.recv(100)
            if not chunk:
                break
            answer += chunk
        return answer


def test_echoFactoryRoundTripsDuringRecycling(startServer):
    """A TCP echo protocol factory answers every round trip while workers recycle."""
    server = startServer(*RECYCLING, "--app", "examples.echo:factory")
    server.waitReady(2)
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda n: echoRoundTrip(server.port, n), range(3000)))
    assert answers == [b"ping %d\n" % n for n in range(3000)]
    server.waitFor(lambda events: server.eventsOf("exited"), 15)


def test_twoListenersAtOnce(startServer):
    """Two --listen endpoints are served by the same workers."""
    server = startServer(
        "--workers", "2", "--ttl", "off", "--app", "recycler.demo:hello",
        "--listen", "tcp:0:interface=127.0.0.1",
    )  # fmt: skip
    server.waitReady(2)
    for port in server.ports(2):
        assert echoHTTP(port) == b"hello\n"


def test_ipv6Listener(startServer):
    """A tcp6 endpoint on ::1 is shared like an IPv4 one."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    server = startServer(
        "--workers", "1", "--ttl", "off", "--app", "recycler.demo:hello",
        listen=r"tcp6:0:interface=\:\:1",
    )  # fmt: skip
    server.waitReady(1)
    assert echoHTTP(server.port, host="::1") == b"hello\n"


def test_systemdSocketActivation(startServer):
    """The master serves a socket inherited the way systemd hands it over."""
    with socket.socket() as inherited:
        inherited.bind(("127.0.0.1", 0))
        inherited.listen(64)
        port = inherited.getsockname()[1]
        server = startServer(
            "--workers", "2", "--ttl", "0:1", "--app", "recycler.demo:hello",
            listen="systemd:domain=INET:index=0", inheritSocket=inherited,
        )  # fmt: skip
    server.waitReady(2)
    assert server.port == port
    assert [echoHTTP(port) for _ in range(20)] == [b"hello\n"] * 20
    server.signal(signal.SIGTERM)
    assert server.wait() == 0


def test_tls(startServer, tmp_path):
    """--tls-cert makes every worker serve TLS on the shared socket."""
    pem = tmp_path / "server.pem"
    pem.write_bytes(b"".join(selfSigned()))
    server = startServer(
        "--workers", "2", "--ttl", "0:1", "--app", "recycler.demo:hello",
        "--tls-cert", str(pem),
    )  # fmt: skip
    server.waitReady(2)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    answers = [echoHTTP(server.port, tls=context) for _ in range(30)]
    assert answers == [b"hello\n"] * 30


def test_appOfNoKnownKindIsAClearError(startServer):
    """An --app that is not a resource, WSGI app or factory: one clear error, master up."""
    server = startServer("--workers", "2", "--app", "recycler.demo:resource.body")
    errors = server.waitFor(
        lambda events: [e for e in events if e.get("log_level", {}).get("name") == "error"]
    )
    assert "is not a twisted.web resource, a WSGI app, a protocol factory" in errors[0]["why"]
    assert server.process.poll() is None


def echoHTTP(port: int, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> bytes:
    """GET / over a fresh connection (HTTP/1.0) and return the body."""
    with socket.create_connection((host, port), timeout=10) as raw:
        connection = raw if tls is None else tls.wrap_socket(raw)
        connection.sendall(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")
        response = b""
        while chunk := connection.recv(4096):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].endswith(b" 200 OK"), head
    return body
