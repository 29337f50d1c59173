"""The floor of every overhead figure: the raw broker call plus the commits the operation cannot do without.

A preview must be remembered (1 commit: INSERT; COMMIT after the broker's answer). An
exactly-once execute must commit its intent before the broker call and its outcome after it
(2 commits: INSERT; COMMIT; the call; UPDATE; COMMIT). The floor does exactly that on the bench
database, with a one-table schema, so service/floor is the module's overhead over the least any
implementation with the same guarantees would pay; service/raw is the overhead over the bare call.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, text

_CREATE = text("CREATE TABLE IF NOT EXISTS bench_floor (id uuid PRIMARY KEY, status varchar(16), payload jsonb)")
_INSERT = text("INSERT INTO bench_floor (id, status, payload) VALUES (:id, :status, '{}'::jsonb)")
_UPDATE = text("UPDATE bench_floor SET status = 'ACCEPTED' WHERE id = :id")


class Floor:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with engine.begin() as conn:
            conn.execute(_CREATE)

    def preview(self, broker_call: Callable[[], Any]) -> Callable[[], None]:
        """The raw broker call, then INSERT + COMMIT of what it answered."""

        def floor_preview() -> None:
            broker_call()
            with self.engine.begin() as conn:
                conn.execute(_INSERT, {"id": uuid.uuid4(), "status": "ACTIVE"})

        return floor_preview

    def execute(self, broker_call: Callable[[], Any]) -> Callable[[], None]:
        """INSERT + COMMIT (the intent), the raw broker call, UPDATE + COMMIT (the outcome)."""

        def floor_execute() -> None:
            row_id = uuid.uuid4()
            with self.engine.begin() as conn:
                conn.execute(_INSERT, {"id": row_id, "status": "SUBMITTING"})
            broker_call()
            with self.engine.begin() as conn:
                conn.execute(_UPDATE, {"id": row_id})

        return floor_execute
