"""For a host application that mounts this module's Alembic branch in its own environment.

In the host's `alembic.ini`, add `VERSIONS_DIR` to `version_locations`; in its `env.py`, pass
`include_name` and `include_object` to `context.configure(...)` so `alembic check` and
autogenerate in the host never propose dropping or altering this module's tables (they are
managed by the `trade_execution` branch). README, "Mounting the migrations".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import migrations
from db.migrate import VERSION_TABLE
from db.models import Base

VERSIONS_DIR = Path(migrations.__file__).resolve().parent / "versions"
MODULE_TABLES = frozenset({*Base.metadata.tables, VERSION_TABLE})
"""Every table the module's models declare (a new table is covered without editing this list)."""


def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
    """Skip this module's tables (and everything on them) when the host reflects its database."""
    if type_ == "table":
        return name not in MODULE_TABLES
    return parent_names.get("table_name") not in MODULE_TABLES


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Skip this module's tables, columns, indexes and constraints in the host's comparisons."""
    if type_ == "table":
        return name not in MODULE_TABLES
    table = getattr(obj, "table", None)
    return getattr(table, "name", None) not in MODULE_TABLES
