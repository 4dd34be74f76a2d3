"""Courier's Python client: the HTTP API (:class:`Client`), the producer's
transaction and check-back (:mod:`courier_client.producer`) and the
consumer's exactly-once loop (:mod:`courier_client.consumer`), a port of the
Go module ``github.com/courier-mq/courier/client`` with the same contract."""

from .client import Client
from .errors import (
    Conflict,
    CourierError,
    Forbidden,
    IdConflict,
    InternalError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
)
from .messages import Answer, Message, Outcome, Page, Prepared, RedriveResult, Stats, Status, View, new_id
from .policy import Policy, default_policy

__version__ = "0.1.0"

__all__ = [
    "Answer", "Client", "Conflict", "CourierError", "Forbidden", "IdConflict", "InternalError",
    "InvalidRequest", "Message", "NotFound", "Outcome", "Page", "PayloadTooLarge", "Policy",
    "Prepared", "RedriveResult", "Stats", "Status", "Unauthorized", "Unavailable", "View",
    "default_policy", "new_id",
]
