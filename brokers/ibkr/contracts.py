"""Ticker text -> qualified IB contract, with an in-memory cache.

The module's tickers are plain text, so the notation is fixed here:

* stocks and ETFs: ``AAPL``, ``BRK.B`` (sent as ``BRK B``) - SMART routed, USD
* futures, front month: ``/ES``, ``/MES`` (``/ROOT`` for any root);
  a specific month: ``ES 202512``, ``/ES 202512`` or ``/ESZ5``. A bare ticker (``ES``) always means
  the stock or ETF: a derivative is only chosen when the notation (or an order's ``sec_type``) says
  so, and a bare futures root with no stock behind it is refused with the notation to use.
* indexes: ``SPX``, ``NDX``, ``VIX``, ``RUT``, ``XSP`` (quotes only; IB does not trade them)
* options: ``SPY 20251219 500 C`` or the OCC form ``SPY 251219C00500000``
(the notations themselves are read by `brokers.instruments.parse_notation`; orders with explicit
instrument fields are turned into a `ContractSpec` by `brokers.ibkr.instrument_contracts`).

The front month of a future is the listed contract with the earliest last trading day strictly
after today: on its last trading day a contract is no longer chosen, so an order never lands on a
contract that stops trading within hours.

Qualification costs a round trip, so resolved contracts are cached per process: stocks,
indexes and options for good, front-month futures for an hour (the front month rolls).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal

from ib_async import IB, Contract, ContractDetails, RequestError

from brokers.errors import ErrorCode, TradeError
from brokers.ibkr.decimals import to_decimal
from brokers.ibkr.status import NO_SECURITY_CODES
from brokers.instruments import SecType, parse_notation

FUTURE_EXCHANGES: dict[str, str] = {
    "ES": "CME", "MES": "CME", "NQ": "CME", "MNQ": "CME", "RTY": "CME", "M2K": "CME",
    "YM": "CBOT", "MYM": "CBOT", "ZN": "CBOT", "ZB": "CBOT", "CL": "NYMEX", "MCL": "NYMEX",
    "GC": "COMEX", "MGC": "COMEX",
}
INDEX_EXCHANGES: dict[str, str] = {"SPX": "CBOE", "XSP": "CBOE", "VIX": "CBOE", "NDX": "NASDAQ", "RUT": "RUSSELL"}
FRONT_MONTH_TTL_SECONDS = 3600.0

_CLASS_SHARE = re.compile(r"^([A-Z]{1,5})[. ]([A-Z])$")


@dataclass(frozen=True)
class ContractSpec:
    """What a ticker asks for, before IB has confirmed it exists."""

    sec_type: str
    symbol: str
    exchange: str = "SMART"
    currency: str = "USD"
    expiry: str = ""
    strike: Decimal | None = None
    right: str = ""
    multiplier: str = ""
    continuous: bool = False
    """Quotes of a front-month future: qualified as IB's continuous future (secType CONTFUT)."""

    def query(self) -> Contract:
        return Contract(
            secType="CONTFUT" if self.continuous else self.sec_type, symbol=self.symbol, exchange=self.exchange,
            currency=self.currency, lastTradeDateOrContractMonth=self.expiry,
            strike=float(self.strike) if self.strike is not None else 0.0, right=self.right,
            multiplier=self.multiplier,
        )

    @property
    def front_month(self) -> bool:
        return self.sec_type == "FUT" and not self.expiry


def parse_ticker(ticker: str) -> ContractSpec:
    """Read the notation above; anything else is a stock symbol."""
    text = " ".join(ticker.strip().upper().split())
    notation = parse_notation(text)
    if notation is not None and notation.sec_type is SecType.OPTION:
        return ContractSpec("OPT", notation.symbol.replace(".", " "), expiry=notation.expiry or "",
                            strike=notation.strike, right=notation.right or "")
    if notation is not None:
        root = notation.symbol
        return ContractSpec("FUT", root, exchange=FUTURE_EXCHANGES.get(root, ""), expiry=notation.expiry or "")
    if text in INDEX_EXCHANGES:
        return ContractSpec("IND", text, exchange=INDEX_EXCHANGES[text])
    if match := _CLASS_SHARE.match(text):
        return ContractSpec("STK", f"{match.group(1)} {match.group(2)}")
    if not re.fullmatch(r"[A-Z0-9][A-Z0-9 ]{0,11}", text):
        raise TradeError(ErrorCode.SYMBOL_NOT_FOUND, f"{ticker!r} is not a ticker IBKR can resolve",
                         {"ticker": ticker[:64]})
    return ContractSpec("STK", text)


@dataclass(frozen=True)
class ResolvedContract:
    """A contract IB confirmed, with what previews and orders need from its details."""

    contract: Contract = field(compare=False)
    con_id: int
    symbol: str
    sec_type: str
    exchange: str
    currency: str
    local_symbol: str
    multiplier: Decimal
    description: str | None
    category: str | None
    expiry: str = ""
    strike: Decimal | None = None
    right: str = ""
    trading_class: str = ""

    @property
    def label(self) -> str:
        """How positions and orders name it: the symbol for stocks, the local symbol for derivatives."""
        return self.local_symbol if self.sec_type in ("FUT", "OPT") and self.local_symbol else self.symbol

    @property
    def kind(self) -> str:
        return "ETF" if self.sec_type == "STK" and self.category == "ETF" else self.sec_type

    @classmethod
    def of(cls, details: ContractDetails, exchange: str) -> ResolvedContract:
        contract = details.contract or Contract()
        if contract.secType == "CONTFUT":  # a continuous future is quoted and traded as its front month
            contract = Contract(**{**vars(contract), "secType": "FUT"})
        if exchange:
            contract.exchange = exchange
        return cls(
            contract=contract, con_id=contract.conId, symbol=contract.symbol, sec_type=contract.secType,
            exchange=contract.exchange, currency=contract.currency or "USD",
            local_symbol=contract.localSymbol or contract.symbol,
            multiplier=to_decimal(contract.multiplier) or Decimal(1),
            description=details.longName or None,
            category=(getattr(details, "stockType", "") or details.category or None),
            expiry=contract.lastTradeDateOrContractMonth or "", strike=to_decimal(contract.strike) or None,
            right=contract.right or "", trading_class=contract.tradingClass or "",
        )


class ContractResolver:
    """Resolves on the IB loop thread only, so the cache needs no lock."""

    def __init__(self, *, front_month_ttl: float = FRONT_MONTH_TTL_SECONDS) -> None:
        self.front_month_ttl = front_month_ttl
        self._by_spec: dict[ContractSpec, tuple[ResolvedContract, float | None]] = {}
        self._by_con_id: dict[int, ResolvedContract] = {}

    def clear(self) -> None:
        self._by_spec.clear()
        self._by_con_id.clear()

    async def resolve(self, ib: IB, ticker: str, *, continuous: bool = False) -> ResolvedContract:
        """A ticker in the notation above; `continuous`: a front-month future via IB's continuous future."""
        spec = parse_ticker(ticker)
        if continuous and spec.front_month:
            spec = replace(spec, continuous=True)
        return await self.resolve_spec(ib, spec, ticker)

    async def resolve_spec(self, ib: IB, spec: ContractSpec, ticker: str) -> ResolvedContract:
        cached = self._by_spec.get(spec)
        if cached is not None and (cached[1] is None or cached[1] > time.monotonic()):
            return cached[0]
        details = await _details(ib, spec.query())
        resolved = self._choose(spec, details, ticker)
        expires = time.monotonic() + self.front_month_ttl if spec.front_month else None
        self._by_spec[spec] = (resolved, expires)
        self._by_con_id[resolved.con_id] = resolved
        return resolved

    async def by_con_id(self, ib: IB, con_id: int, exchange: str | None = None) -> ResolvedContract:
        """The exact contract a preview priced (orders use it, so a rolled front month cannot change it),
        routed to `exchange` (the one the preview used) when given."""
        cached = self._by_con_id.get(con_id)
        if cached is not None and (exchange is None or cached.exchange == exchange):
            return cached
        details = await _details(ib, Contract(conId=con_id))
        if not details:
            raise TradeError(ErrorCode.SYMBOL_NOT_FOUND, f"IBKR has no contract with conId {con_id}",
                             {"con_id": con_id})
        kind = details[0].contract.secType if details[0].contract else ""
        default = "SMART" if kind in ("STK", "OPT") else ""
        resolved = ResolvedContract.of(details[0], default if exchange is None else exchange)
        self._by_con_id[con_id] = resolved
        return resolved

    def _choose(self, spec: ContractSpec, details: list[ContractDetails], ticker: str) -> ResolvedContract:
        if spec.front_month:
            today = dt.date.today().strftime("%Y%m%d")
            live = [d for d in details if d.contract and d.contract.lastTradeDateOrContractMonth[:8] > today]
            details = sorted(live, key=lambda d: d.contract.lastTradeDateOrContractMonth if d.contract else "")[:1]
        if not details and spec.sec_type == "STK" and spec.symbol in FUTURE_EXCHANGES:
            raise TradeError(
                ErrorCode.SYMBOL_NOT_FOUND,
                f"IBKR has no stock or ETF {ticker}; a bare ticker never means a derivative. {spec.symbol} is a "
                f"futures root: only if the human asked for the future, use /{spec.symbol} (front month) or "
                f"{spec.symbol} YYYYMM",
                {"ticker": ticker, "sec_type": "STK", "derivative_ticker": f"/{spec.symbol}"},
            )
        if not details:
            raise TradeError(ErrorCode.SYMBOL_NOT_FOUND, f"IBKR does not know the symbol {ticker}",
                             {"ticker": ticker, "sec_type": spec.sec_type})
        if len(details) > 1:
            candidates = sorted({d.contract.localSymbol or d.contract.symbol for d in details if d.contract})
            raise TradeError(
                ErrorCode.SYMBOL_NOT_FOUND,
                f"{ticker} matches {len(details)} IBKR contracts; be more specific",
                {"ticker": ticker, "candidates": candidates[:10]},
            )
        return ResolvedContract.of(details[0], spec.exchange)


async def _details(ib: IB, query: Contract) -> list[ContractDetails]:
    try:
        return list(await ib.reqContractDetailsAsync(query))
    except RequestError as exc:
        if exc.code in NO_SECURITY_CODES:
            return []
        raise TradeError(ErrorCode.BROKER_ERROR, f"IBKR contract lookup failed ({exc.code}): {exc.message}",
                         {"code": exc.code}) from None
