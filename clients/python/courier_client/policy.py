"""A message's own timing, mirroring the Go client's policy.go."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta


@dataclass
class Policy:
    """A message's timing; ``None``/0 fields keep the gateway's default."""

    check_delay: timedelta | None = None
    check_backoff: float = 0.0
    check_max_delay: timedelta | None = None
    check_max_attempts: int = 0
    check_timeout: timedelta | None = None
    resend_intervals: list[timedelta] = field(default_factory=list)
    publish_max_interval: timedelta | None = None

    def over(self) -> Policy:
        """This policy with :func:`default_policy`'s value in every unset
        field: the timing it has on a gateway with the default timing."""
        d = default_policy()
        return replace(
            d,
            check_delay=self.check_delay or d.check_delay,
            check_backoff=self.check_backoff or d.check_backoff,
            check_max_delay=self.check_max_delay or d.check_max_delay,
            check_max_attempts=self.check_max_attempts or d.check_max_attempts,
            check_timeout=self.check_timeout or d.check_timeout,
            resend_intervals=list(self.resend_intervals or d.resend_intervals),
            publish_max_interval=self.publish_max_interval or d.publish_max_interval,
        )

    def check_span(self) -> timedelta:
        """How long after prepare the last check-back can still be answered:
        every wait between check-backs (growing by check_backoff up to
        check_max_delay, as the workflow computes it) plus every check-back
        taking its whole check_timeout. Call it on a full policy (over())."""
        assert self.check_delay is not None and self.check_timeout is not None
        assert self.check_max_delay is not None
        span = timedelta(0)
        delay = self.check_delay
        for _ in range(self.check_max_attempts):
            span += delay + self.check_timeout
            delay = min(delay * self.check_backoff, self.check_max_delay)
        return span

    def resend_span(self) -> timedelta:
        """How long after its first send a message is still re-sent."""
        return sum(self.resend_intervals, timedelta(0))


def default_policy() -> Policy:
    """The timing of a gateway whose defaults were not changed (the Go
    client's DefaultPolicy, which Courier's tests tie to the server's)."""
    return Policy(
        check_delay=timedelta(seconds=30),
        check_backoff=2.0,
        check_max_delay=timedelta(minutes=5),
        check_max_attempts=15,
        check_timeout=timedelta(seconds=10),
        resend_intervals=[timedelta(minutes=m) for m in (1, 2, 5, 15, 30, 60)],
        publish_max_interval=timedelta(minutes=1),
    )


def go_duration(d: timedelta) -> str:
    """d as a Go duration string, the form Courier's HTTP API reads."""
    us = round(d.total_seconds() * 1_000_000)
    if us % 1_000_000 == 0:
        return f"{us // 1_000_000}s"
    if us % 1000 == 0:
        return f"{us // 1000}ms"
    return f"{us}us"
