"""The one rule for what leaves the service: a TradeError with a stable code, never a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy.exc import DataError, OperationalError

from brokers.errors import ErrorCode, TradeError

log = logging.getLogger("services")
T = TypeVar("T")


def structured(action: Callable[[], T]) -> T:
    """Only structured errors leave the service: no stack traces, no driver messages."""
    try:
        return action()
    except TradeError:
        raise
    except ValidationError as exc:
        raise TradeError(ErrorCode.VALIDATION_ERROR, f"invalid input: {exc.error_count()} problem(s)") from None
    except DataError:  # e.g. a NUL character: the database cannot take the value, so it is bad input
        raise TradeError(ErrorCode.VALIDATION_ERROR, "a value cannot be stored or searched (e.g. it contains "
                         "a NUL character); nothing was done") from None
    except OperationalError:
        log.exception("database unavailable")
        raise TradeError(ErrorCode.DATABASE_UNAVAILABLE, "the database is not reachable; nothing was done") from None
    except Exception:
        log.exception("unexpected error")
        raise TradeError(ErrorCode.INTERNAL_ERROR, "unexpected internal error; see the service log") from None
