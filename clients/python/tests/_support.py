"""Shared test helpers: import path, a scripted local HTTP server, tiny PNG decoder."""

from __future__ import annotations

import email.parser
import email.policy
import json
import os
import struct
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple, Union
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import dream  # noqa: E402
from dream.retry import RetryPolicy  # noqa: E402

ENV_KEYS = ("DREAM_API_KEY", "DREAM_ENGINE_API_KEY", "DREAM_BASE_URL")

Reply = Tuple[int, Dict[str, str], bytes]

#: A reply that closes the connection without answering: a reply lost after the server got the request.
DROP_CONNECTION: Reply = (0, {}, b"")


class Recorded:
    def __init__(self, method: str, target: str, headers: Dict[str, str], body: bytes) -> None:
        parts = urlsplit(target)
        self.method = method
        self.path = parts.path
        self.query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.headers = headers
        self.body = body


def json_reply(status: int, obj: Any, headers: Optional[Dict[str, str]] = None) -> Reply:
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return status, h, json.dumps(obj).encode()


def error_reply(status: int, reason: str, message: str = "", headers: Optional[Dict[str, str]] = None, **details: Any) -> Reply:
    body = {"error": {"code": status, "reason": reason, "message": message or reason.lower(), "request_id": "req-err-1", **details}}
    return json_reply(status, body, headers)


class FakeServer:
    """A local HTTP server answering scripted replies per (method, path); records every request.

    ``on(method, path, r1, r2, ...)`` answers r1 to the first request, r2 to the second, and repeats
    the last one. A reply may be a callable taking the Recorded request.
    """

    def __init__(self) -> None:
        self.requests: List[Recorded] = []
        self._routes: Dict[Tuple[str, str], List[Union[Reply, Callable[[Recorded], Reply]]]] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                rec = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                status, headers, payload = server._reply(rec)
                if status == 0:
                    self.close_connection = True
                    return
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def on(self, method: str, path: str, *replies: Union[Reply, Callable[[Recorded], Reply]]) -> None:
        with self._lock:
            self._routes[(method, path)] = list(replies)

    def _reply(self, rec: Recorded) -> Reply:
        with self._lock:
            self.requests.append(rec)
            queue = self._routes.get((rec.method, rec.path))
            if not queue:
                return error_reply(404, "NOT_FOUND", f"no route {rec.method} {rec.path}")
            reply = queue.pop(0) if len(queue) > 1 else queue[0]
        return reply(rec) if callable(reply) else reply

    def count(self, method: Optional[str] = None, path: Optional[str] = None) -> int:
        return sum(1 for r in self.requests if (method is None or r.method == method) and (path is None or r.path == path))

    def __enter__(self) -> "FakeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def model_spec(slug: str = "dreamdojo-2b-gr1", active: bool = True, **arch: Any) -> Dict[str, Any]:
    a = {"resolution": [480, 640], "action_dim": 384, "chunk_size": 12, "fps": 10, "frames_per_rollout": 49,
         "default_num_steps": 4, "model_size": "2B"}
    a.update(arch)
    return {
        "slug": slug, "name": "DreamDojo 2B GR-1", "provider": "dreamengine", "active": active,
        "status": "live" if active else "unavailable", "status_reason": "" if active else "ONNX files not installed",
        "arch": a,
        "pricing": {"price_per_frame_usd": 0.0005, "price_per_rollout_usd": 0.0245,
                    "price_per_million_frames_usd": 500.0, "price_per_frame_micros": "500"},
    }


def no_sleep_client(server: FakeServer, **kwargs: Any) -> "dream.Client":
    """A client against ``server`` whose retry sleeps are recorded, not slept."""
    kwargs.setdefault("api_key", "dre_testkey")
    kwargs.setdefault("retry_policy", RetryPolicy(jitter=False))
    client = dream.Client(base_url=server.url, **kwargs)
    client.sleeps = []  # type: ignore[attr-defined]
    client._transport.sleep = client.sleeps.append  # type: ignore[attr-defined]
    return client


def decode_png(data: bytes) -> Tuple[int, int, bytes]:
    """(height, width, RGB bytes) of an 8-bit RGB non-interlaced PNG with filters 0-2."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    o, idat, width, height = 8, b"", 0, 0
    while o < len(data):
        (n,) = struct.unpack(">I", data[o:o + 4])
        kind, chunk = data[o + 4:o + 8], data[o + 8:o + 8 + n]
        assert zlib.crc32(kind + chunk) & 0xFFFFFFFF == struct.unpack(">I", data[o + 8 + n:o + 12 + n])[0], "CRC"
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert (depth, colour, interlace) == (8, 2, 0)
        elif kind == b"IDAT":
            idat += chunk
        o += 12 + n
    raw = zlib.decompress(idat)
    stride = width * 3
    out = bytearray()
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        row = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(3, stride):
                row[i] = (row[i] + row[i - 3]) & 0xFF
        elif f == 2:
            for i in range(stride):
                row[i] = (row[i] + prev[i]) & 0xFF
        else:
            assert f == 0, f"filter {f}"
        out += row
        prev = row
    return height, width, bytes(out)


def parse_form(rec: Recorded) -> Dict[str, Tuple[str, Optional[str], bytes]]:
    """Parse a recorded multipart/form-data request with the stdlib email parser (independent of the SDK):
    part name -> (content type, filename, payload)."""
    raw = b"Content-Type: " + rec.headers["content-type"].encode() + b"\r\n\r\n" + rec.body
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    assert msg.is_multipart()
    parts = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        parts[name] = (part.get_content_type(), part.get_filename(), part.get_payload(decode=True))
    return parts
