"""One record per tool call or HTTP request: correlation id, redacted argument summary, outcome, duration.

Entry points wrap each call in `call_scope(kind, name)`; the scope sets the correlation id (which
the services write into trade_events), then writes one log line and the call metrics at the end.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from telemetry import metrics
from telemetry.correlation import CORRELATION_ID

log = logging.getLogger("tradeexec.calls")

SHOWN_ARGUMENTS = frozenset({
    "account_id", "ticker", "side", "quantity", "notional", "order_type", "limit_price", "stop_price",
    "time_in_force", "take_profit_price", "stop_loss_price", "preview_id", "order_id", "state", "days", "method",
    "path",
})
"""Argument names whose values appear in logs; anything else is summarized by type and length only."""
MAX_SHOWN = 64


@dataclass
class CallRecord:
    kind: str
    name: str
    correlation_id: uuid.UUID
    arguments: dict[str, str] = field(default_factory=dict)
    outcome: str = "ok"
    error_code: str | None = None
    status: int | None = None

    def note_arguments(self, values: Mapping[str, Any]) -> None:
        self.arguments.update(summarize(values))

    def fail(self, error_code: str) -> None:
        self.outcome = "error"
        self.error_code = error_code


CURRENT_CALL: ContextVar[CallRecord | None] = ContextVar("tradeexec_current_call", default=None)


def summarize(values: Mapping[str, Any]) -> dict[str, str]:
    """A log-safe summary: known order terms and ids verbatim (truncated), everything else as <type len>."""
    summary: dict[str, str] = {}
    for raw_name, value in list(values.items())[:20]:
        name = str(raw_name)[:MAX_SHOWN]
        if value is None:
            continue
        if name in SHOWN_ARGUMENTS and isinstance(value, str | int | float | Decimal | uuid.UUID):
            summary[name] = str(value)[:MAX_SHOWN]
        else:
            summary[name] = f"<{type(value).__name__} {len(str(value))} chars>"
    return summary


def note_arguments(**values: Any) -> None:
    """Add to the summary of the call in progress (no-op outside a call)."""
    record = CURRENT_CALL.get()
    if record is not None:
        record.note_arguments(values)


def note_failure(error_code: str) -> None:
    record = CURRENT_CALL.get()
    if record is not None:
        record.fail(error_code)


@contextmanager
def call_scope(kind: str, name: str, correlation_id: uuid.UUID | None = None) -> Iterator[CallRecord]:
    record = CallRecord(kind=kind, name=name, correlation_id=correlation_id or uuid.uuid4())
    call_token = CURRENT_CALL.set(record)
    correlation_token = CORRELATION_ID.set(record.correlation_id)
    started = time.perf_counter()
    try:
        yield record
    except BaseException as exc:
        code = getattr(getattr(exc, "code", None), "value", None)
        record.fail(str(code) if code else "INTERNAL_ERROR")
        raise
    finally:
        finish(record, time.perf_counter() - started)
        CORRELATION_ID.reset(correlation_token)
        CURRENT_CALL.reset(call_token)


def finish(record: CallRecord, seconds: float) -> None:
    """Metrics and the log line; a failure here is logged and never fails the call itself."""
    try:
        _finish(record, seconds)
    except Exception:
        log.exception("could not record call telemetry")


def _finish(record: CallRecord, seconds: float) -> None:
    metrics.CALL_DURATION.labels(kind=record.kind, name=record.name, outcome=record.outcome).observe(seconds)
    if record.error_code is not None:
        metrics.REFUSALS.labels(name=record.name, error_code=record.error_code).inc()
    log.info(
        "%s %s %s%s", record.kind, record.name, record.outcome,
        f" {record.error_code}" if record.error_code else "",
        extra={
            "event": "call", "kind": record.kind, "tool": record.name, "arguments": record.arguments,
            "outcome": record.outcome, "error_code": record.error_code, "status": record.status,
            "duration_ms": round(seconds * 1000, 1), "correlation_id": str(record.correlation_id),
        },
    )
