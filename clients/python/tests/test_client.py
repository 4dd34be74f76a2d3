"""The HTTP client against a real gateway: every route, the error classes,
and the retry rule."""

from __future__ import annotations

import http.server
import threading
import uuid

import pytest

from courier_client import (
    Answer, Client, Conflict, IdConflict, InvalidRequest, Message, NotFound, Outcome, Status, Unavailable,
)
from courier_client.errors import InternalError, error_for

from .conftest import Courier, wait_status


def topic() -> str:
    return "py-" + uuid.uuid4().hex[:8]


def test_prepare_confirm_deliver(client: Client) -> None:
    msg = Message(topic=topic(), key="order-1", payload=b'{"order":1}', check_url="http://127.0.0.1:1/check")
    p = client.prepare(msg)
    # The id is made before the first attempt and kept in the message, so a
    # retry is the same request.
    assert msg.id and p.id == msg.id and p.created and p.status == Status.WAITING_CONFIRM
    again = client.prepare(msg)
    assert not again.created and again.id == msg.id
    a = client.confirm(msg.id)
    assert a == Answer(id=msg.id, status=Status.SENDING, previous_status=Status.WAITING_CONFIRM, outcome=Outcome.APPLIED)
    again_confirm = client.confirm(msg.id)
    assert again_confirm.outcome == Outcome.REPEATED and again_confirm.status == again_confirm.previous_status
    assert again_confirm.reason == "message is already confirmed"
    v = wait_status(client, msg.id, Status.DELIVERED)
    assert v.payload() == b'{"order":1}' and v.topic == msg.topic
    assert client.complete(msg.id).outcome in (Outcome.APPLIED, Outcome.ACCEPTED)
    wait_status(client, msg.id, Status.COMPLETED)
    assert msg.id in {m.id for m in client.list(topic=msg.topic).messages}
    [listed] = client.list(topic=msg.topic, key="order-1").messages
    assert listed.id == msg.id
    assert listed.status_at is not None and listed.created_at is not None and listed.status_at >= listed.created_at
    assert client.list(topic=msg.topic, key="order-2").messages == []
    assert client.stats().total >= 1
    st = client.state(msg.id)
    assert st.id == msg.id and st.status == Status.COMPLETED and st.source == "workflow"
    assert st.payload() == b'{"order":1}', "the live view is the same view, payload included"
    assert "signals" in st.raw and "message_id" not in st.raw
    assert st.status_at is None, "the live view's status is the workflow's, not the mirror's"


def test_errors_are_classed_by_code(client: Client) -> None:
    msg = Message(topic=topic(), payload=b"x", check_url="http://127.0.0.1:1/check")
    client.prepare(msg)
    client.cancel(msg.id, "test")
    with pytest.raises(Conflict) as e:
        client.confirm(msg.id)
    assert e.value.status == 409 and e.value.code == "conflict"
    with pytest.raises(IdConflict):
        client.prepare(Message(id=msg.id, topic=msg.topic, payload=b"other", check_url=msg.check_url))
    with pytest.raises(NotFound):
        client.get("no-such-" + uuid.uuid4().hex)
    with pytest.raises(InvalidRequest):
        client.prepare(Message(topic=topic(), payload=b"x"))  # no check_url
    # A status without a code is classed by its class, as Go's Error.Is does.
    assert isinstance(error_for("op", 503), Unavailable)
    assert isinstance(error_for("op", 500), InternalError)
    assert isinstance(error_for("op", 418), InvalidRequest)


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Answers 503 to the first two requests, then 200: a gateway
    restarting."""

    seen: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(body.decode())
        code, out = (503, b'{"error":{"code":"unavailable","message":"x"}}') if len(self.seen) <= 2 else (
            201, b'{"id":"x","status":"SENDING"}')
        self.send_response(code)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: object) -> None:
        pass


def test_unknown_outcomes_are_retried_as_the_same_request() -> None:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        c = Client(f"http://127.0.0.1:{srv.server_address[1]}", backoff=0.01)
        msg = Message(topic="t", payload=b"x")
        assert c.send(msg).created
        assert len(_Flaky.seen) == 3 and len(set(_Flaky.seen)) == 1  # one id, three attempts
    finally:
        srv.shutdown()
    with pytest.raises(Unavailable):
        Client(f"http://127.0.0.1:{srv.server_address[1]}", attempts=2, backoff=0.01).send(Message(topic="t"))


def test_refusals_are_not_retried(courier: Courier) -> None:
    c = Client(courier.url, backoff=60)  # a retry would hang the test
    with pytest.raises(NotFound):
        c.confirm("no-such-" + uuid.uuid4().hex)
