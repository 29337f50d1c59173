"""Browser fixtures: the /ui page on a real HTTP server, the service over the SnapTrade simulator and
PostgreSQL, an in-process MCP server on the same service, and the system's headless Chromium.

One browser per module (starting Chromium is the slow part); every test gets a fresh browser
context, so no cookie leaks from one test to the next.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from brokers.snaptrade import SnapTradeBrokerAdapter
from mcp_tools.server import build_server
from services.trade_execution import TradeExecutionService
from tests.snaptrade.conftest import World, world  # noqa: F401 - the simulator fixture, shared

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("UI_SCREENSHOT_DIR", Path(__file__).resolve().parents[2] / "build" / "ui-screenshots"))


@dataclass
class Desk:
    """Everything a browser scenario needs."""

    world: World
    service: TradeExecutionService
    mcp: Any
    base_url: str
    token: str
    kill_file: Path

    def url(self, path: str = "/") -> str:
        return self.base_url + path


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class UiServer:
    """uvicorn serving `app` on an already bound socket, in a thread of this process."""

    def __init__(self, app: FastAPI, sock: socket.socket) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.sock = sock
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve(sockets=[sock])), daemon=True)

    def __enter__(self) -> UiServer:
        self.thread.start()
        started = threading.Event()
        for _ in range(200):
            if self.server.started:
                started.set()
                break
            started.wait(0.05)
        if not started.is_set():
            raise RuntimeError("the /ui server did not start")
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def make_desk(
    world: World, session_factory: sessionmaker[Session], tmp_path: Path  # noqa: F811
) -> Iterator[Any]:
    opened: list[tuple[UiServer, TradeExecutionService]] = []

    def factory(**overrides: Any) -> Desk:
        sock = _free_socket()
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}/ui"
        token = f"op-{secrets.token_urlsafe(24)}"
        kill_file = tmp_path / "kill-switch"
        values: dict[str, Any] = {"EXECUTE_CONFIRMATION": "browser", "OPERATOR_TOKEN": token,
                                  "UI_BASE_URL": base_url, "TRADING_KILL_SWITCH_FILE": str(kill_file)}
        values.update(overrides)
        settings = world.settings(**values)
        service = TradeExecutionService(settings, session_factory, [SnapTradeBrokerAdapter.from_settings(settings)])
        app = create_app(service, settings)  # the `tradeexec api` app, which mounts /ui
        server = UiServer(app, sock).__enter__()
        opened.append((server, service))
        mcp_server, _provider = build_server(settings, service)
        return Desk(world, service, mcp_server, base_url, token, kill_file)

    yield factory
    for server, service in opened:
        server.__exit__(None, None, None)
        service.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 430, "height": 900}, device_scale_factor=1)
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
