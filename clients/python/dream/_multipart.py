"""multipart/form-data encoding (requests) and multipart/mixed parsing (predict_batch responses)."""

from __future__ import annotations

import uuid
from email.message import Message
from typing import Dict, List, Sequence, Tuple

FilePart = Tuple[str, str, str, bytes]  # (name, filename, content_type, data)


def encode_form_data(fields: Sequence[Tuple[str, str]], files: Sequence[FilePart]) -> Tuple[bytes, str]:
    """Return (body, content_type header value)."""
    while True:
        boundary = "dream-" + uuid.uuid4().hex
        marker = boundary.encode("ascii")
        if not any(marker in data for _, _, _, data in files):  # vanishingly unlikely, but cheap to rule out
            break
    out: List[bytes] = []
    for name, value in fields:
        out.append(
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n".encode("utf-8")
            + value.encode("utf-8") + b"\r\n"
        )
    for name, filename, content_type, data in files:
        out.append(
            (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
             f"Content-Type: {content_type}\r\n\r\n").encode("utf-8")
            + data + b"\r\n"
        )
    out.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


class Part:
    __slots__ = ("headers", "body")

    def __init__(self, headers: Dict[str, str], body: bytes) -> None:
        self.headers = headers  # lower-cased names
        self.body = body


def boundary_of(content_type: str) -> str:
    msg = Message()
    msg["content-type"] = content_type
    boundary = msg.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise ValueError(f"no boundary in Content-Type {content_type!r}")
    return boundary


def parse_multipart(content_type: str, body: bytes) -> List[Part]:
    """Split a multipart body (RFC 2046) into parts; preamble and epilogue are ignored."""
    delim = b"--" + boundary_of(content_type).encode("latin1")
    pos = body.find(delim)
    if pos < 0 or (pos > 0 and body[pos - 2:pos] != b"\r\n"):
        raise ValueError("multipart body has no opening boundary")
    pos += len(delim)
    parts: List[Part] = []
    while True:
        if body[pos:pos + 2] == b"--":
            return parts
        eol = body.find(b"\r\n", pos)  # rest of the boundary line (transport padding allowed)
        if eol < 0:
            raise ValueError("truncated multipart body")
        start = eol + 2
        end = body.find(b"\r\n" + delim, start)
        if end < 0:
            raise ValueError("multipart body is missing its closing boundary")
        raw = body[start:end]
        if raw.startswith(b"\r\n"):
            head, content = b"", raw[2:]
        else:
            sep = raw.find(b"\r\n\r\n")
            if sep < 0:
                raise ValueError("multipart part without a header/body separator")
            head, content = raw[:sep], raw[sep + 4:]
        headers: Dict[str, str] = {}
        for line in head.decode("latin1").split("\r\n"):
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        parts.append(Part(headers, content))
        pos = end + 2 + len(delim)
