"""Keeping the user secret and the consumer key out of messages, logs and stored JSON.

The SDK sends the user secret in every query string, so any text that may contain a
URL (urllib3's errors and debug lines, the SDK's own logs) is scrubbed before it leaves.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
_SECRET_PARAM = re.compile(r"(?i)(user_?secret|consumer_?key|signature)(=|%3D)[^&\s'\"#]*")

# Loggers that may print a request URL (with userSecret in its query) or a response body.
URL_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.util.retry",
    "urllib3.poolmanager",
    "snaptrade_client",
    "snaptrade_client.rest",
    "snaptrade_client.api_client",
)


class Redactor:
    """Replaces known secrets (raw and URL-encoded) and any secret-named query parameter."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        variants: set[str] = set()
        for secret in secrets:
            if secret:
                variants.update({secret, quote(secret, safe=""), quote(secret, safe="/"), quote_plus(secret)})
        self._secrets = tuple(sorted(variants, key=len, reverse=True))

    def text(self, value: str) -> str:
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return _SECRET_PARAM.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", value)

    def payload(self, value: Any) -> Any:
        """A copy of a JSON-like value with every string scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.payload(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.payload(v) for v in value]
        return value


class _RedactingFilter(logging.Filter):
    """Rewrites records of third-party loggers that could carry a signed URL."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._redactors: dict[int, Redactor] = {}

    def register(self, redactor: Redactor) -> None:
        with self._lock:
            self._redactors[id(redactor)] = redactor

    def unregister(self, redactor: Redactor) -> None:
        with self._lock:
            self._redactors.pop(id(redactor), None)

    def filter(self, record: logging.LogRecord) -> bool:
        redactors = list(self._redactors.values())
        if not redactors:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's problem, not ours
            return True
        clean = message
        for redactor in redactors:
            clean = redactor.text(clean)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_FILTER = _RedactingFilter()


def protect_logs(redactor: Redactor) -> None:
    """Scrub this adapter's secrets from the SDK's and urllib3's log records."""
    _FILTER.register(redactor)
    for name in URL_LOGGERS:
        logging.getLogger(name).addFilter(_FILTER)  # idempotent for the same filter object


def release_logs(redactor: Redactor) -> None:
    _FILTER.unregister(redactor)
