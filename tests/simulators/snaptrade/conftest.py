"""Fixtures for the SnapTrade simulator tests: a running simulator and the unmodified SDK."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
import urllib3
from snaptrade_client import Configuration, SnapTrade, SnapTradeAuth

from simulators.snaptrade import SnapTradeSimulator, compute_signature


def make_client(
    sim: SnapTradeSimulator,
    *,
    consumer_key: str | None = None,
    client_id: str | None = None,
    retries: urllib3.Retry | bool | None = None,
) -> SnapTrade[Any]:
    """The 13.x way: credentials only through `auth`; retries only through a Configuration."""
    auth = SnapTradeAuth.commercial_api_key(
        consumer_key=consumer_key or sim.consumer_key, client_id=client_id or sim.client_id
    )
    if retries is None:
        return SnapTrade(auth=auth, host=sim.base_url)
    config = Configuration(host=sim.base_url, auth=auth)
    config.retries = retries
    return SnapTrade(configuration=config, auth=auth)


@dataclass
class SdkApi:
    """The demo user's view of the simulator through the SDK, with short helpers."""

    sim: SnapTradeSimulator
    client: SnapTrade[Any]
    demo: dict[str, Any]

    @property
    def creds(self) -> dict[str, str]:
        return {"user_id": self.demo["user_id"], "user_secret": self.demo["user_secret"]}

    @property
    def acct(self) -> str:
        return str(self.demo["accounts"]["individual"])

    @property
    def paper(self) -> str:
        return str(self.demo["accounts"]["paper"])

    def sym(self, ticker: str) -> str:
        return str(self.demo["symbols"][ticker])

    def _form(self, ticker: str, action: str, units: float | None, order_type: str, tif: str,
              price: float | None, stop: float | None, account: str | None) -> dict[str, Any]:
        return dict(
            account_id=account or self.acct, action=action, universal_symbol_id=self.sym(ticker),
            order_type=order_type, time_in_force=tif, units=units, price=price, stop=stop, **self.creds,
        )

    def impact(self, ticker: str = "AAPL", action: str = "BUY", units: float | None = 1.0,
               order_type: str = "Market", tif: str = "Day", price: float | None = None,
               stop: float | None = None, account: str | None = None) -> Any:
        form = self._form(ticker, action, units, order_type, tif, price, stop, account)
        return self.client.trading.get_order_impact(**form).body

    def place(self, trade_id: str, **extra: Any) -> Any:
        return self.client.trading.place_order(trade_id=trade_id, **extra, **self.creds).body

    def force(self, ticker: str = "AAPL", action: str = "BUY", units: float | None = 1.0,
              order_type: str = "Market", tif: str = "Day", price: float | None = None,
              stop: float | None = None, account: str | None = None, **extra: Any) -> Any:
        form = self._form(ticker, action, units, order_type, tif, price, stop, account)
        return self.client.trading.place_force_order(**form, **extra).body

    def order(self, brokerage_order_id: str, account: str | None = None) -> Any:
        return self.client.account_information.get_user_account_order_detail(
            account_id=account or self.acct, brokerage_order_id=brokerage_order_id, **self.creds
        ).body

    def orders(self, state: str = "all", days: int = 30, account: str | None = None) -> Any:
        return self.client.account_information.get_user_account_orders(
            account_id=account or self.acct, state=state, days=days, **self.creds
        ).body

    def cancel(self, brokerage_order_id: str, account: str | None = None) -> Any:
        return self.client.trading.cancel_order(
            account_id=account or self.acct, brokerage_order_id=brokerage_order_id, **self.creds
        ).body

    def balance(self, account: str | None = None) -> Any:
        return self.client.account_information.get_user_account_balance(
            account_id=account or self.acct, **self.creds
        ).body[0]

    def units(self, account: str | None = None) -> dict[str, Decimal]:
        body = self.client.account_information.get_all_account_positions(
            account_id=account or self.acct, **self.creds
        ).body
        return {p["instrument"]["symbol"]: Decimal(p["units"]) for p in body["results"]}


@pytest.fixture
def sim() -> Iterator[SnapTradeSimulator]:
    simulator = SnapTradeSimulator().start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def demo(sim: SnapTradeSimulator) -> dict[str, Any]:
    return sim.seed_demo()


@pytest.fixture
def api(sim: SnapTradeSimulator, demo: dict[str, Any]) -> SdkApi:
    return SdkApi(sim, make_client(sim), demo)


def raw_request(
    sim: SnapTradeSimulator,
    method: str,
    path: str,
    params: list[tuple[str, str]] | None = None,
    body: Any = None,
    *,
    user_id: str = "demo-user",
    user_secret: str = "demo-secret",
    consumer_key: str | None = None,
    signed_body: Any = "same",
    timestamp: int | None = None,
) -> tuple[int, Any]:
    """Build a request exactly as the SDK does (query order, quoting, signature), over urllib."""
    pairs = [*(params or []), ("userId", user_id), ("userSecret", user_secret),
             ("clientId", sim.client_id), ("timestamp", str(timestamp or int(time.time())))]
    query = "&".join(f"{k}={quote(v)}" for k, v in pairs)
    content = body if signed_body == "same" else signed_body
    signature = compute_signature(consumer_key or sim.consumer_key, path, query, content)
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{sim.base_url}{path}?{query}", data=data, method=method,
        headers={"Signature": signature, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
