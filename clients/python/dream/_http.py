"""HTTP transport: one request with retries, error mapping and timing. stdlib urllib only."""

from __future__ import annotations

import json
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPException
from typing import Any, Callable, Dict, Mapping, Optional

from .errors import DreamError, TransportError, error_from_response, parse_retry_after
from .retry import RetryPolicy


class Response:
    __slots__ = ("status", "headers", "body", "wall_s", "attempts")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes, wall_s: float, attempts: int) -> None:
        self.status = status
        self.headers = headers  # case-insensitive (email.message.Message)
        self.body = body
        self.wall_s = wall_s
        self.attempts = attempts

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise DreamError(f"server sent invalid JSON ({exc})", self.status,
                             self.headers.get("X-DreamEngine-Request-Id")) from None


class _NoHttpAnswer(Exception):
    """Internal: the attempt got no HTTP response at all (refused, reset, timed out)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect would resend the body and the API key to another place; the API never redirects.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Transport:
    def __init__(self, base_url: str, api_key: Optional[str], timeout_s: float, retry_policy: RetryPolicy,
                 user_agent: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.retry_policy = retry_policy
        self.user_agent = user_agent
        self._opener = urllib.request.build_opener(_NoRedirect())
        # Injectable for tests: no real sleeping, deterministic jitter.
        self.sleep: Callable[[float], None] = time.sleep
        self.rng: Callable[[], float] = random.random

    def request(self, method: str, path: str, *, query: Optional[Mapping[str, Any]] = None,
                body: Optional[bytes] = None, content_type: Optional[str] = None,
                accept: str = "application/json", retry: bool = True) -> Response:
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        headers: Dict[str, str] = {"User-Agent": self.user_agent, "Accept": accept}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if content_type:
            headers["Content-Type"] = content_type

        policy = self.retry_policy
        max_attempts = policy.max_attempts if retry else 1
        started = time.monotonic()
        attempt = 1
        while True:
            try:
                status, resp_headers, resp_body = self._once(method, url, headers, body)
            except _NoHttpAnswer as exc:
                if attempt >= max_attempts:
                    raise TransportError(
                        f"{method} {path}: no response from {self.base_url} after {attempt} attempt(s): {exc}"
                    ) from exc.__cause__
                delay = policy.backoff_s(attempt, self.rng)
            else:
                if 200 <= status < 300:
                    return Response(status, resp_headers, resp_body, time.monotonic() - started, attempt)
                err = error_from_response(status, resp_headers, resp_body)
                if attempt >= max_attempts or not policy.should_retry_status(status, err.reason):
                    raise err
                retry_after = parse_retry_after(resp_headers.get("Retry-After"))
                if retry_after is not None and retry_after > policy.retry_after_max_s:
                    raise err
                delay = retry_after if retry_after is not None else policy.backoff_s(attempt, self.rng)
            self.sleep(delay)
            attempt += 1

    def open_stream(self, method: str, path: str, *, body: bytes, content_type: str,
                    accept: str = "application/x-ndjson") -> Any:
        """Like request(), but returns the open 2xx response for the caller to read line by line.

        Retries apply only until an answer starts (the request id in the body keeps them safe).
        """
        url = self.base_url + path
        headers: Dict[str, str] = {"User-Agent": self.user_agent, "Accept": accept, "Content-Type": content_type}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        policy = self.retry_policy
        attempt = 1
        while True:
            req = urllib.request.Request(url, data=body, headers=headers, method=method)
            try:
                resp = self._opener.open(req, timeout=self.timeout_s)
                return resp
            except urllib.error.HTTPError as exc:
                try:
                    payload = exc.read()
                except (OSError, HTTPException):
                    payload = b""
                err = error_from_response(exc.code, exc.headers, payload)
                if attempt >= policy.max_attempts or not policy.should_retry_status(exc.code, err.reason):
                    raise err from None
                retry_after = parse_retry_after(exc.headers.get("Retry-After"))
                if retry_after is not None and retry_after > policy.retry_after_max_s:
                    raise err from None
                delay = retry_after if retry_after is not None else policy.backoff_s(attempt, self.rng)
            except (urllib.error.URLError, OSError, HTTPException, socket.timeout) as exc:
                if attempt >= policy.max_attempts:
                    raise TransportError(f"{method} {path}: no response from {self.base_url} after {attempt} "
                                         f"attempt(s): {exc}") from exc
                delay = policy.backoff_s(attempt, self.rng)
            self.sleep(delay)
            attempt += 1

    def _once(self, method: str, url: str, headers: Mapping[str, str], body: Optional[bytes]):
        req = urllib.request.Request(url, data=body, headers=dict(headers), method=method)
        try:
            with self._opener.open(req, timeout=self.timeout_s) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as exc:  # an HTTP answer with an error status
            try:
                payload = exc.read()
            except (OSError, HTTPException):
                payload = b""
            return exc.code, exc.headers, payload
        except urllib.error.URLError as exc:
            raise _NoHttpAnswer(str(exc.reason)) from exc
        except (OSError, HTTPException, socket.timeout) as exc:  # reset, remote closed, read timeout
            raise _NoHttpAnswer(f"{type(exc).__name__}: {exc}") from exc
