"""Running `tradeexec api` as a real subprocess (a real uvicorn server) for tests that talk HTTP to it."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2

from tests.mcp.process import Served, serving

LISTENING = re.compile(r"tradeexec API listening on (http://\S+) ")


ApiProcess = Served


@contextmanager
def api_server(env: dict[str, str], tmp_path: Path, *args: str, timeout: float = 60) -> Iterator[ApiProcess]:
    """Start `tradeexec api --port 0 ...`, wait until it listens, stop it afterwards."""
    with serving(["api", *args], env, tmp_path, LISTENING, timeout) as served:
        yield served


def wait_ready(url: str, timeout: float = 60) -> None:
    """Until /health says the service is wired (database + brokers), within a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        state = httpx2.get(f"{url}/health", timeout=10).json().get("service")
        if state == "ready":
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the API service did not become ready (last state {state!r})")
        time.sleep(0.1)
