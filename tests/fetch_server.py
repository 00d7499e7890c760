"""A small APSIS One on loopback for the fetch tests: a real HTTP/1.1 server, scripted.

Each endpoint answers from a queue of :class:`Answer` objects first, then normally:
the token endpoint issues JWTs, the export request answers a poll URL, the poll
URL serves the export (gzip when asked with ``Accept-Encoding: gzip``), the
metadata endpoints list items. Every request is recorded in ``api.seen``.

:class:`FakeStorage` is an object store on another origin (another port) serving
the export at a pre-signed URL, refusing, as S3 does, a request that also carries
an ``Authorization`` header.
"""

from __future__ import annotations

import base64
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


@dataclass
class Answer:
    """One scripted answer. ``body=None`` on a 200 poll is the export itself; status 0 hangs up."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    chunk: int = 8192  # body bytes per write
    delay: float = 0.0  # seconds between writes
    cut_after: int | None = None  # close the connection after this many body bytes
    chunked: bool = True  # Transfer-Encoding: chunked, else Content-Length
    revoke_tokens: bool = False  # after answering, every token issued so far expires


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def make_jwt(exp: float, jti: int = 0) -> str:
    """A JWT-shaped token (unsigned: clients read ``exp`` without verifying)."""

    def part(obj) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(obj)).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'exp': int(exp), 'jti': jti})}.c2lnbmF0dXJl"


class _LoopbackServer:
    """A threaded HTTP/1.1 server on 127.0.0.1; ``handle`` answers, ``seen`` records.

    With ``tls`` (a server-side SSL context) it speaks HTTPS; the handshake happens in
    the request's thread, so a client that refuses the certificate stalls nothing.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.seen: list[Seen] = []
        self.server = _QuietServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.server.api = self  # type: ignore[attr-defined]
        if tls is not None:
            self.server.socket = tls.wrap_socket(
                self.server.socket, server_side=True, do_handshake_on_connect=False
            )
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()

    def calls(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path == path]

    def record(self, h: BaseHTTPRequestHandler) -> str:
        """Read and record the request; its path without the query."""
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        path = h.path.split("?")[0]
        self.seen.append(Seen(h.command, path, dict(h.headers.items()), body))
        return path

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def json(self, h: BaseHTTPRequestHandler, status: int, obj) -> None:
        self.send(
            h,
            Answer(
                status=status,
                body=orjson.dumps(obj),
                chunked=False,
                headers={"Content-Type": "application/json"},
            ),
        )

    def send(self, h: BaseHTTPRequestHandler, a: Answer) -> None:
        if a.status == 0:  # the request arrived, the answer never does
            h.close_connection = True
            return
        body = a.body
        if body is None:
            body = orjson.dumps(
                {"status": a.status, "title": f"status {a.status}", "detail": "scripted answer"}
            )
        h.send_response(a.status)
        for name, value in a.headers.items():
            h.send_header(name, value)
        if a.chunked:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        sent = 0
        try:
            for i in range(0, len(body), a.chunk):
                piece = body[i : i + a.chunk]
                cut = a.cut_after is not None and sent + len(piece) > a.cut_after
                if cut:
                    piece = piece[: a.cut_after - sent]
                h.wfile.write(
                    (b"%x\r\n" % a.chunk) + piece
                    if a.chunked and cut
                    else (b"%x\r\n%s\r\n" % (len(piece), piece) if a.chunked else piece)
                )
                sent += len(piece)
                if cut:
                    h.close_connection = True
                    h.connection.shutdown(socket.SHUT_RDWR)
                    return
                if a.delay:
                    time.sleep(a.delay)
            if a.chunked:
                h.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client went away (e.g. its read timed out)
            h.close_connection = True


class FakeApsis(_LoopbackServer):
    """The API; ``url`` is its base URL, ``poll_url`` the export's poll URL."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(tls)
        self.export_json = (SAMPLE / "small.json").read_bytes()
        self.export_gzip = (SAMPLE / "small.json.gz").read_bytes()
        self.token_answers: deque[Answer] = deque()
        self.request_answers: deque[Answer] = deque()
        self.poll_answers: deque[Answer] = deque()
        self.export_answer = Answer()  # how the ready export is served, once poll_answers is empty
        self.token_lifetime = 3600.0
        self.tokens: set[str] = set()
        self.issued: list[str] = []  # every token ever issued, revoked ones included
        self.echo_credentials = False  # error answers repeat the request's Authorization header and body
        self.authorize = True  # False: every token is refused, even a fresh one
        self.unauthorized_status = 401  # what a refused token gets (APSIS answers 403 to an expired one)
        self.tokens_issued = 0
        # Metadata: the sections, and per (section discriminator, kind) the items (a default item otherwise).
        self.sections: list[dict] = [
            {"id": "1", "discriminator": "com.apsis1.sections.default", "name": "Default"}
        ]
        self.definitions: dict[tuple[str, str], list[dict]] = {}
        self.poll_url = f"{self.url}/exports/e-1/file"
        self.request_body: dict = {"id": "e-1", "file_download_url": self.poll_url}

    def revoke_tokens(self) -> None:
        """Every token issued so far becomes invalid (as if expired)."""
        self.tokens.clear()

    # ---- request handling (server threads) ----

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        path = self.record(h)
        if (h.command, path) == ("POST", "/oauth/token"):
            if self.token_answers:
                return self.send(h, self.token_answers.popleft())
            self.tokens_issued += 1
            token = make_jwt(time.time() + self.token_lifetime, self.tokens_issued)
            self.tokens.add(token)
            self.issued.append(token)
            return self.json(h, 200, {"access_token": token, "expires_in": 86400, "token_type": "Bearer"})
        auth = h.headers.get("Authorization", "")
        if not self.authorize or not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return self.json(
                h, self.unauthorized_status, {"message": "User is not authorized to access this resource"}
            )
        if (h.command, path) == ("POST", "/audience/profiles/exports"):
            if self.request_answers:
                return self.send(h, self.request_answers.popleft())
            return self.json(h, 201, self.request_body)
        if (h.command, path) == ("GET", "/exports/e-1/file"):
            answer = self.poll_answers.popleft() if self.poll_answers else self.export_answer
            if answer.status == 200 and answer.body is None:
                gzip = "gzip" in h.headers.get("Accept-Encoding", "")
                headers = {"Content-Type": "application/json", **answer.headers}
                if gzip:
                    headers["Content-Encoding"] = "gzip"
                answer = Answer(
                    **{
                        **answer.__dict__,
                        "headers": headers,
                        "body": self.export_gzip if gzip else self.export_json,
                    }
                )
            self.send(h, answer)
            if answer.revoke_tokens:
                self.revoke_tokens()
            return None
        if (h.command, path) == ("GET", "/audience/sections"):
            return self.json(h, 200, {"items": self.sections})
        if h.command == "GET" and path.startswith("/audience/sections/"):
            section, kind = path.split("/")[3:5]
            items = self.definitions.get((urllib.parse.unquote(section), kind))
            if items is None:
                items = [
                    {
                        "discriminator": f"{kind}.one",
                        "name": "One",
                        "versions": [{"id": "10462", "deprecated_at": None}],
                    }
                ]
            return self.json(h, 200, {"items": items})
        return self.json(h, 404, {"status": 404, "title": "Not Found", "detail": f"no route {path}"})

    def send(self, h: BaseHTTPRequestHandler, a: Answer) -> None:
        if self.echo_credentials and a.status >= 400 and a.body is None:
            seen = self.seen[-1]
            # Padded so that a token crosses the 300 characters a client might cut an error message at.
            detail = f"got body {seen.body.decode()!r} {'.' * 180} and Authorization {seen.headers.get('Authorization')!r}"
            a = Answer(
                **{
                    **a.__dict__,
                    "body": orjson.dumps({"status": a.status, "title": "echo", "detail": detail}),
                }
            )
        super().send(h, a)


class FakeStorage(_LoopbackServer):
    """An object store on another origin: ``url_for(name)`` is a pre-signed URL serving ``objects[name]``.

    Like S3 it answers 400 to a request that carries an ``Authorization`` header
    besides the signature in the query, and 403 once ``expired`` is set.
    """

    def __init__(self) -> None:
        super().__init__()
        self.objects: dict[str, bytes] = {}
        self.expired = False

    def url_for(self, name: str) -> str:
        return f"{self.url}/bucket/{name}?X-Amz-Signature=0123abcd&X-Amz-Expires=3600"

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        path = self.record(h)
        name = path.removeprefix("/bucket/")
        if "Authorization" in h.headers:
            body = b"<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>"
            return self.send(h, Answer(400, body=body, chunked=False))
        if self.expired or "X-Amz-Signature=" not in h.path:
            body = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
            return self.send(h, Answer(403, body=body, chunked=False))
        if name not in self.objects:
            return self.send(h, Answer(404, body=b"<Error><Code>NoSuchKey</Code></Error>", chunked=False))
        return self.send(
            h,
            Answer(
                body=self.objects[name], chunked=False, headers={"Content-Type": "application/octet-stream"}
            ),
        )


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """Clients cutting connections is what these tests do: no traceback on stderr for it."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in separate writes: no 40 ms delayed-ACK stalls

    def do_GET(self) -> None:
        self.server.api.handle(self)  # type: ignore[attr-defined]

    do_POST = do_GET

    def log_message(self, *args) -> None:
        pass


_NETWORK_CALLS: list | None = None


def _audit(event: str, args: tuple) -> None:
    if _NETWORK_CALLS is not None and event in ("socket.connect", "socket.getaddrinfo"):
        _NETWORK_CALLS.append((event, args[1] if event == "socket.connect" else args[0]))


sys.addaudithook(_audit)  # an observer only: the interpreter's own audit events, nothing replaced


@contextmanager
def network_calls():
    """Every connect and name lookup this process makes inside the block (servers only accept)."""
    global _NETWORK_CALLS
    _NETWORK_CALLS = calls = []
    try:
        yield calls
    finally:
        _NETWORK_CALLS = None
