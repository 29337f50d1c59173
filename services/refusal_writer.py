"""Audit events written together: the callers waiting at one moment share one INSERT and one commit.

Every refusal is recorded before its caller is answered. In a duplicate storm dozens of
callers are refused at the same instant; one transaction each would queue them on the pool
and on the WAL flush. Here the first caller to arrive writes every event queued by then (its
own included) in one executemany and one commit, and keeps going while more arrive; the
others wait until their event is durable. A failure to write is logged, as for a single
refusal: the refusal itself still stands.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from services.execute_sql import EVENT_INSERT

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    params: dict[str, Any]
    written: threading.Event = field(default_factory=threading.Event)


class RefusalWriter:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._writing = False

    def write(self, params: dict[str, Any]) -> None:
        """Record one event (EVENT_INSERT's values); returns once it is committed or its write failed."""
        pending = _Pending(params)
        with self._lock:
            self._queue.append(pending)
            lead = not self._writing
            self._writing = True
        if lead:
            self._drain()
        pending.written.wait()

    def _drain(self) -> None:
        batch: list[_Pending] = []
        try:
            while True:
                with self._lock:
                    batch, self._queue = self._queue, []
                    if not batch:
                        self._writing = False
                        return
                self._insert(batch)
        finally:
            with self._lock:  # only after an exception escaped: hand the rest back so no caller waits forever
                rest, self._queue = ([*batch, *self._queue], []) if self._writing else ([], self._queue)
                self._writing = False
            for pending in rest:
                pending.written.set()

    def _insert(self, batch: list[_Pending]) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(EVENT_INSERT, [pending.params for pending in batch])
        except Exception:
            log.exception("could not record %d refusal event(s)", len(batch))
        finally:
            for pending in batch:
                pending.written.set()
