"""The correlation id of the tool call or HTTP request being served, carried in a contextvar.

Services read it when they write trade_events, so a log line and the audit rows of one call share
an id without any signature changing. Outside a call (a background loop) a fresh id is used.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar

CORRELATION_ID: ContextVar[uuid.UUID | None] = ContextVar("tradeexec_correlation_id", default=None)


def current_correlation() -> uuid.UUID:
    """The id of the call in progress, or a new one when there is none."""
    return CORRELATION_ID.get() or uuid.uuid4()


def parse_correlation(value: str | None) -> uuid.UUID | None:
    """A client-supplied id (e.g. X-Correlation-ID) is used only when it is a canonical UUID."""
    if not value or len(value) != 36:
        return None
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    return parsed if str(parsed) == value.lower() else None
