"""A typed client for Courier's HTTP API, mirroring the Go client's
client.go and messages.go, on the standard library only.

Every call is safe to retry: prepare and send carry the message's id (the
client makes one before the first attempt when the message has none), and
Courier answers a repeated request with the same outcome. So the client
retries every call whose outcome is unknown or was refused for now: a
connection failure, a timeout, HTTP 429, 502, 503 and 504. A refusal (4xx)
or an internal error (500) is raised at once.

Every call carries the trace context in effect (:mod:`.tracecontext`) in
W3C ``traceparent`` and ``tracestate`` headers.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any

from . import tracecontext
from .errors import CourierError, Unavailable, error_for
from .messages import Answer, Message, Page, Prepared, RedriveResult, Stats, View, new_id


class Client:
    """Calls one Courier gateway. Safe for use from many threads.

    ``timeout`` bounds one attempt in seconds (10: a confirm waits for its
    publish); ``attempts`` is how often a call whose outcome is unknown is
    tried (1 disables retries); ``backoff`` is the wait before the second
    attempt, doubled before each further one up to ``max_backoff``, with
    jitter.
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str = "",
        timeout: float = 10.0,
        attempts: int = 5,
        backoff: float = 0.2,
        max_backoff: float = 5.0,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"courier client: URL {url!r} must start with http:// or https://")
        self._base = url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout if timeout > 0 else 10.0
        self._attempts = max(1, attempts)
        self._backoff = backoff if backoff > 0 else 0.2
        self._max_backoff = max_backoff if max_backoff > 0 else 5.0

    # -- producer -------------------------------------------------------

    def prepare(self, msg: Message) -> Prepared:
        """Store msg as waiting for its producer's confirm (a half message).
        msg.check_url is required. A message without an id gets one, set in
        msg."""
        return self._prepare("/v1/messages", msg)

    def send(self, msg: Message) -> Prepared:
        """Send msg without a local transaction: it starts confirmed."""
        return self._prepare("/v1/messages/send", msg)

    def _prepare(self, path: str, msg: Message) -> Prepared:
        if not msg.id:
            msg.id = new_id()
        status, body = self._do("POST", path, msg.body())
        return Prepared(id=body.get("id", msg.id), status=body.get("status", ""), created=status == 201)

    def confirm(self, id: str, reason: str = "") -> Answer:
        """Tell Courier the message's transaction committed: send it."""
        return self._decide(id, "confirm", reason)

    def cancel(self, id: str, reason: str = "") -> Answer:
        """Tell Courier the message's transaction rolled back: never send it."""
        return self._decide(id, "cancel", reason)

    def redrive(self, id: str, reason: str = "") -> Answer:
        """Send a DEAD message again (admin)."""
        return self._decide(id, "redrive", reason)

    def _decide(self, id: str, action: str, reason: str) -> Answer:
        body = {"reason": reason} if reason else {}
        _, a = self._do("POST", f"/v1/messages/{_seg(id)}/{action}", body)
        return _answer(a)

    # -- consumer -------------------------------------------------------

    def complete(self, id: str, consumer: str = "") -> Answer:
        """Tell Courier ``consumer`` processed the message; consumer is
        required when the message names its consumers."""
        body = {"consumer": consumer} if consumer else {}
        _, a = self._do("POST", f"/v1/messages/{_seg(id)}/complete", body)
        return _answer(a)

    # -- admin ----------------------------------------------------------

    def redrive_dead(self, topic: str, limit: int = 0, reason: str = "") -> RedriveResult:
        """Re-drive up to limit (0: the gateway's default) DEAD messages of
        topic (admin)."""
        body: dict[str, Any] = {"topic": topic}
        if limit > 0:
            body["limit"] = limit
        if reason:
            body["reason"] = reason
        _, r = self._do("POST", "/v1/messages/redrive", body)
        return RedriveResult(redriven=r.get("redriven", 0), failed=r.get("failed") or [])

    def get(self, id: str) -> View:
        """Message id as the mirror shows it."""
        _, v = self._do("GET", f"/v1/messages/{_seg(id)}")
        return View.from_json(v)

    def state(self, id: str) -> View:
        """Message id as its workflow knows it now: the view ``get`` returns,
        with the workflow's status, counts and times, which the mirror may
        lag; its record (every check-back, publish and signal) is in
        ``raw``. Same access as ``get``."""
        _, v = self._do("GET", f"/v1/messages/{_seg(id)}?live=1")
        return View.from_json(v)

    def list(
        self,
        *,
        status: str = "",
        topic: str = "",
        producer: str = "",
        key: str = "",
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        limit: int = 0,
        cursor: str = "",
    ) -> Page:
        """Messages from the mirror, newest first (admin); empty arguments
        do not filter; ``key`` matches the message's Kafka key exactly."""
        q: dict[str, str] = {}
        for name, v in (("status", status), ("topic", topic), ("producer", producer), ("key", key)):
            if v:
                q[name] = str(v)
        if created_from is not None:
            q["created_from"] = created_from.isoformat()
        if created_to is not None:
            q["created_to"] = created_to.isoformat()
        if limit > 0:
            q["limit"] = str(limit)
        if cursor:
            q["cursor"] = cursor
        path = "/v1/messages" + ("?" + urllib.parse.urlencode(q) if q else "")
        _, p = self._do("GET", path)
        return Page(messages=[View.from_json(v) for v in p.get("messages") or []], next_cursor=p.get("next_cursor", ""))

    def stats(self) -> Stats:
        """The mirror's message counts by status (admin)."""
        _, s = self._do("GET", "/v1/stats")
        return Stats(by_status=s.get("by_status") or {}, total=s.get("total", 0))

    # -- transport ------------------------------------------------------

    def _do(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Send the request, retrying while its outcome is unknown, and
        return the status and the decoded 2xx answer."""
        payload = None if body is None else json.dumps(body).encode()
        wait = self._backoff
        attempt = 1
        while True:
            try:
                return self._once(method, path, payload)
            except Unavailable:
                if attempt >= self._attempts:
                    raise
            # Full jitter keeps many clients from retrying in step.
            time.sleep(wait / 2 + random.uniform(0, wait / 2))
            wait = min(wait * 2, self._max_backoff)
            attempt += 1

    def _once(self, method: str, path: str, payload: bytes | None) -> tuple[int, Any]:
        op = f"{method} {path}"
        headers = {"Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        if self._api_key:
            headers["Authorization"] = "Bearer " + self._api_key
        headers.update(tracecontext.current())
        req = urllib.request.Request(self._base + path, data=payload, method=method, headers=headers)
        try:
            with _opener.open(req, timeout=self._timeout) as resp:
                status, raw = resp.status, resp.read(8 << 20)
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read(8 << 20)
            e.close()
        except (urllib.error.URLError, http.client.HTTPException, OSError, socket.timeout) as e:
            # No answer: the call may or may not have happened.
            raise Unavailable(op, 0, "", str(getattr(e, "reason", e))) from e
        if not 200 <= status <= 299:
            text = raw.decode("utf-8", "replace").strip()
            code, message = "", text
            try:
                err = json.loads(raw)["error"]
                if err.get("code"):
                    code, message = err["code"], err.get("message", "")
            except (ValueError, KeyError, TypeError, AttributeError):
                pass
            raise error_for(op, status, code, message)
        try:
            return status, json.loads(raw) if raw else {}
        except ValueError as e:
            raise CourierError(op, status, "", f"decode answer: {e}") from e


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Courier's API never redirects; a redirect is answered as the error
    it is instead of re-sending a POST elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _seg(id: str) -> str:
    return urllib.parse.quote(id, safe="")


def _answer(a: dict[str, Any]) -> Answer:
    return Answer(id=a.get("id", ""), status=a.get("status", ""), outcome=a.get("outcome", ""),
                  previous_status=a.get("previous_status", ""), reason=a.get("reason", ""))
