"""The client carries the W3C trace context in effect to Courier."""

from __future__ import annotations

import http.server
import threading

from courier_client import Client, Message, tracecontext

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every send 201 and records its trace headers."""

    seen: list[dict[str, str]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append({k: v for k, v in self.headers.items() if k.lower() in ("traceparent", "tracestate")})
        out = b'{"id":"x","status":"SENDING"}'
        self.send_response(201)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: object) -> None:
        pass


def test_calls_carry_the_trace_context_in_effect() -> None:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        c = Client(f"http://127.0.0.1:{srv.server_address[1]}")
        # As the consumer does with a record's headers.
        with tracecontext.use({"Traceparent": PARENT, "tracestate": "vendor=1", "x-other": "y"}):
            assert tracecontext.current() == {"traceparent": PARENT, "tracestate": "vendor=1"}
            c.send(Message(topic="t", payload=b"x"))
        c.send(Message(topic="t", payload=b"x"))
        with tracecontext.use({"traceparent": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"}):  # invalid: no trace id
            c.send(Message(topic="t", payload=b"x"))
    finally:
        srv.shutdown()
    got = [{k.lower(): v for k, v in h.items()} for h in _Recorder.seen]
    assert got == [{"traceparent": PARENT, "tracestate": "vendor=1"}, {}, {}]
    assert tracecontext.current() == {}
