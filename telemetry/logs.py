"""Structured logs: one line per event, JSON for machines or text for a terminal (`LOG_FORMAT`).

Every line passes through a redactor last, so a configured secret cannot reach the log whatever
a message or an exception text contains.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from telemetry.correlation import CORRELATION_ID

Redact = Callable[[str], str]
FIELDS = ("event", "kind", "tool", "arguments", "outcome", "error_code", "status", "duration_ms")
"""Structured fields a record may carry in `extra=`; they become JSON keys (or key=value in text)."""
HANDLER_NAME = "tradeexec-structured"


def _no_redaction(text: str) -> str:
    return text


class StructuredFormatter(logging.Formatter):
    def __init__(self, fmt: str, redact: Redact = _no_redaction) -> None:
        super().__init__()
        self.json = fmt == "json"
        self.redact = redact

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        correlation = getattr(record, "correlation_id", None) or CORRELATION_ID.get()
        if correlation is not None:
            data["correlation_id"] = str(correlation)
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                data[name] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return data

    def format(self, record: logging.LogRecord) -> str:
        data = self.fields(record)
        if self.json:
            line = json.dumps(data, default=str, ensure_ascii=False)
        else:
            extras = " ".join(f"{k}={_text(v)}" for k, v in data.items() if k not in {"ts", "level", "logger",
                                                                                       "message", "exception"})
            line = f"{data['ts']} {data['level'].upper():7} {data['logger']}: {data['message']}"
            line = f"{line} {extras}" if extras else line
            if "exception" in data:
                line = f"{line}\n{data['exception']}"
        return self.redact(line)


def _text(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False) if isinstance(value, dict | list) else str(value)


def resolve_format(configured: str | None, stream: TextIO) -> str:
    """LOG_FORMAT when set; otherwise text on a terminal and JSON anywhere else (files, containers)."""
    if configured in ("json", "text"):
        return configured
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def configure_logging(
    configured: str | None, redact: Redact = _no_redaction, *, level: int = logging.INFO, stream: TextIO | None = None
) -> str:
    """Install the structured handler on the root logger (once; calling again replaces it). Returns the format."""
    target = stream or sys.stderr
    fmt = resolve_format(configured, target)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(target)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(StructuredFormatter(fmt, redact))
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("ib_async", "eventkit", "httpx", "httpx2", "httpcore", "urllib3", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    return fmt
