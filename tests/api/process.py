"""Running `tradeexec api` as a real subprocess (a real uvicorn server) for tests that talk HTTP to it."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2

from tests.mcp.process import REPO, command

LISTENING = re.compile(r"tradeexec API listening on (http://\S+) ")


@dataclass
class ApiProcess:
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def api_server(env: dict[str, str], tmp_path: Path, *args: str, timeout: float = 60) -> Iterator[ApiProcess]:
    """Start `tradeexec api --port 0 ...`, wait until it listens and its service is ready, stop it afterwards."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    log_path = tmp_path / f"api-{time.monotonic_ns()}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command("api", "--port", "0", *args),
            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
    running = ApiProcess("", proc, log_path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            match = LISTENING.search(running.log())
            if match:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the API server did not start:\n{running.log()}")
            time.sleep(0.05)
        running.url = match.group(1)
        yield running
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


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
