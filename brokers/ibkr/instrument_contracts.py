"""An order's `Instrument` -> the IB contract: what a preview resolves and what an execute places.

* Stocks: SMART routed in USD unless the caller names an `exchange` or `currency`. With an exchange
  (``VOD`` on ``LSE``) the listing's own currency is taken from IB's contract details, never assumed,
  and a caller's currency that differs from the listing's is refused. A bare ticker that IB lists only
  outside USD is refused with the exchange and currency to pass.
* Futures: the root on its home exchange (``ES`` -> CME); no expiry means the front month (see
  `brokers.ibkr.contracts`: the earliest last trading day strictly after today).
* Options: underlying, expiry, strike, right (and optionally multiplier), SMART routed unless an
  exchange is named (index options: ``SPX`` with ``exchange`` ``CBOE``).

What the preview resolved is stored with it (`contract_record`); the execute places exactly that
contract by its conId and refuses if IB now describes it differently (`confirmed_contract`).
"""

from __future__ import annotations

from typing import Any

from ib_async import IB

from brokers.errors import ErrorCode, TradeError
from brokers.ibkr.contracts import (
    FUTURE_EXCHANGES,
    INDEX_EXCHANGES,
    ContractResolver,
    ContractSpec,
    ResolvedContract,
)
from brokers.instruments import Instrument, SecType
from brokers.records import OrderToPlace


def _ib_symbol(symbol: str) -> str:
    """IB spells share classes with a space: BRK.B -> BRK B."""
    return symbol.replace(".", " ")


def spec_for(instrument: Instrument) -> ContractSpec:
    """The contract query for an order's instrument (before IB has confirmed it exists)."""
    routed = instrument.exchange not in (None, "SMART")
    currency = instrument.currency or ("" if routed else "USD")
    multiplier = "" if instrument.multiplier is None else format(instrument.multiplier.normalize(), "f")
    if instrument.sec_type is SecType.FUTURE:
        return ContractSpec("FUT", instrument.symbol, exchange=instrument.exchange or FUTURE_EXCHANGES.get(
            instrument.symbol, ""), currency=instrument.currency or "", expiry=instrument.expiry or "",
            multiplier=multiplier)
    if instrument.sec_type is SecType.OPTION:
        return ContractSpec("OPT", _ib_symbol(instrument.symbol), exchange=instrument.exchange or "SMART",
                            currency=currency, expiry=instrument.expiry or "", strike=instrument.strike,
                            right=instrument.right or "", multiplier=multiplier)
    # a stock on a named exchange: ask without a currency, so the listing says which one it trades in
    return ContractSpec(instrument.sec_type.value, _ib_symbol(instrument.symbol),
                        exchange=instrument.exchange or "SMART", currency="" if routed else currency)


async def resolve_instrument(
    resolver: ContractResolver, ib: IB, instrument: Instrument, ticker: str
) -> ResolvedContract:
    """The one contract an order means, with its currency checked against what the caller said."""
    spec = spec_for(instrument)
    try:
        resolved = await resolver.resolve_spec(ib, spec, ticker)
    except TradeError as exc:
        if exc.code is ErrorCode.SYMBOL_NOT_FOUND and instrument.sec_type is SecType.STOCK:
            if instrument.symbol in INDEX_EXCHANGES:
                raise TradeError(
                    ErrorCode.UNSUPPORTED_ORDER,
                    f"{ticker} is an index: indexes are quoted, not traded. For an index option pass sec_type='OPT' "
                    f"with expiry, strike and right (exchange '{INDEX_EXCHANGES[instrument.symbol]}')",
                    {"ticker": ticker, "sec_type": "IND"},
                ) from None
            other = await listing_elsewhere(resolver, ib, spec.symbol, ticker) if spec.currency else None
            if other is not None:
                raise _currency_refusal(ticker, other, instrument.currency or "USD") from None
        raise
    if instrument.currency and resolved.currency != instrument.currency:
        raise _currency_refusal(ticker, resolved, instrument.currency)
    return resolved


async def listing_elsewhere(resolver: ContractResolver, ib: IB, symbol: str, ticker: str) -> ResolvedContract | None:
    """The one listing IB has for a stock symbol in any currency (VOD -> LSE, GBP), or None."""
    try:
        return await resolver.resolve_spec(ib, ContractSpec("STK", symbol, exchange="SMART", currency=""), ticker)
    except TradeError:
        return None


def _currency_refusal(ticker: str, listing: ResolvedContract, asked: str) -> TradeError:
    where = listing.contract.primaryExchange or listing.exchange
    problem = (f"{ticker} is listed on {where} in {listing.currency}, not {asked}: pass exchange='{where}' and "
               f"currency='{listing.currency}' (or leave currency out) only if the human means that listing")
    return TradeError(ErrorCode.VALIDATION_ERROR, f"Invalid order: currency: {problem}",
                      {"problems": [{"field": "currency", "problem": problem}],
                       "listing_exchange": where, "listing_currency": listing.currency})


def contract_record(resolved: ResolvedContract) -> dict[str, Any]:
    """The resolved contract as stored with a preview: what the human confirms and the execute places."""
    return {
        "con_id": resolved.con_id, "symbol": resolved.symbol, "sec_type": resolved.sec_type,
        "local_symbol": resolved.local_symbol, "exchange": resolved.exchange, "currency": resolved.currency,
        "multiplier": str(resolved.multiplier), "description": resolved.description,
        "expiry": resolved.expiry or None, "strike": None if resolved.strike is None else str(resolved.strike),
        "right": resolved.right or None, "trading_class": resolved.trading_class or None,
        "primary_exchange": resolved.contract.primaryExchange or None,
    }


_CONFIRMED_FIELDS = ("sec_type", "symbol", "expiry", "strike", "right", "multiplier", "currency")


async def confirmed_contract(resolver: ContractResolver, ib: IB, to_place: OrderToPlace) -> ResolvedContract:
    """The contract the preview priced, by conId and on its exchange; refused if it is not that contract."""
    request = to_place.request
    raw = to_place.preview_data.get("raw") if isinstance(to_place.preview_data, dict) else None
    contract = raw.get("contract") if isinstance(raw, dict) else None
    stored: dict[str, Any] = contract if isinstance(contract, dict) else {}
    if not (to_place.broker_symbol_id or "").isdigit():
        return await resolve_instrument(resolver, ib, request.instrument, request.ticker)
    exchange = stored.get("exchange") if isinstance(stored.get("exchange"), str) else None
    resolved = await resolver.by_con_id(ib, int(to_place.broker_symbol_id or 0), exchange)
    spec = spec_for(request.instrument)
    now = contract_record(resolved)
    changed = [name for name in _CONFIRMED_FIELDS if name in stored and stored[name] != now[name]]
    if resolved.symbol != spec.symbol or resolved.sec_type != spec.sec_type or changed:
        raise TradeError(
            ErrorCode.VALIDATION_ERROR,
            f"the previewed contract {resolved.label} does not match the confirmed order ({request.ticker}"
            f"{'; changed: ' + ', '.join(changed) if changed else ''}); nothing was sent",
            {"con_id": resolved.con_id, "ticker": request.ticker, "changed": changed},
        )
    return resolved
