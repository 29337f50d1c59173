"""Option chains: expiries and strikes from reqSecDefOptParams; for one expiry, a slice of
contracts (the strikes nearest the underlying price) with quotes and model greeks."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from ib_async import IB, Contract, RequestError
from ib_async import OptionChain as IBOptionChain

from brokers.errors import ErrorCode, TradeError
from brokers.ibkr.contracts import ContractResolver, ResolvedContract
from brokers.ibkr.decimals import to_decimal, to_price
from brokers.ibkr.historical import market_data_error
from brokers.ibkr.quotes import DELAYED_OR_FROZEN, KINDS, LIVE_OR_FROZEN, greeks, is_unsubscribed, snapshots
from brokers.market_models import MarketDataKind, OptionChain, OptionQuote
from brokers.models import BrokerProvider

SLICE_STRIKES = 20
"""Strikes per expiry slice (each with a call and a put), the ones nearest the underlying price."""


async def _parameters(ib: IB, under: ResolvedContract) -> list[IBOptionChain]:
    try:
        return list(await ib.reqSecDefOptParamsAsync(under.symbol, "", under.sec_type, under.con_id))
    except RequestError as exc:
        raise market_data_error(exc, under.symbol) from None


async def _underlying_price(ib: IB, under: ResolvedContract, timeout: float) -> Decimal | None:
    [result] = await snapshots(ib, [under], LIVE_OR_FROZEN, timeout)
    if is_unsubscribed(result):
        [result] = await snapshots(ib, [under], DELAYED_OR_FROZEN, timeout)
    if isinstance(result, TradeError):
        return None
    for value in (result.last, result.close):
        if to_price(value) is not None:
            return to_price(value)
    bid, ask = to_price(result.bid), to_price(result.ask)
    return (bid + ask) / 2 if bid is not None and ask is not None else None


async def option_chain(ib: IB, resolver: ContractResolver, account_id: str, underlying: str, expiry: str | None,
                       timeout: float) -> OptionChain:
    under = await resolver.resolve(ib, underlying)
    if under.sec_type not in ("STK", "IND"):
        raise TradeError(ErrorCode.UNSUPPORTED, f"option chains are offered for stocks, ETFs and indexes, "
                         f"not {under.sec_type} ({underlying})", {"ticker": underlying, "sec_type": under.sec_type})
    params = await _parameters(ib, under)
    if not params:
        raise TradeError(ErrorCode.NO_DATA, f"IBKR lists no options on {underlying}", {"ticker": underlying})
    expiries = sorted({e for p in params for e in p.expirations})
    strikes = sorted({d for p in params for s in p.strikes if (d := to_decimal(s)) is not None})
    price = await _underlying_price(ib, under, timeout / 4)  # up to two rounds each: the total stays in budget
    chain = OptionChain(
        account_id=account_id, provider=BrokerProvider.IBKR, underlying=underlying, underlying_price=price,
        multiplier=params[0].multiplier or None, exchanges=sorted({p.exchange for p in params}),
        expiries=expiries, strikes=strikes, fetched_at=datetime.now(UTC),
    )
    if expiry is None:
        return chain
    if expiry not in expiries:
        raise TradeError(ErrorCode.VALIDATION_ERROR, f"{underlying} has no options expiring {expiry}; "
                         f"expiries: {', '.join(expiries[:12])}", {"field": "expiry", "accepted": expiries})
    contracts = await _slice_contracts(ib, under, expiry, _nearest(strikes, price))
    return chain.model_copy(update={"expiry": expiry, "contracts": await _quotes(ib, contracts, timeout / 4)})


def _nearest(strikes: list[Decimal], price: Decimal | None) -> set[Decimal]:
    if price is None:
        middle = len(strikes) // 2
        return set(strikes[max(0, middle - SLICE_STRIKES // 2): middle + SLICE_STRIKES // 2])
    return set(sorted(strikes, key=lambda s: abs(s - price))[:SLICE_STRIKES])


async def _slice_contracts(
    ib: IB, under: ResolvedContract, expiry: str, wanted: set[Decimal]
) -> list[ResolvedContract]:
    query = Contract(secType="OPT", symbol=under.symbol, lastTradeDateOrContractMonth=expiry, exchange="SMART",
                     currency=under.currency)
    try:
        details = await ib.reqContractDetailsAsync(query)
    except RequestError as exc:
        raise market_data_error(exc, under.symbol) from None
    found = [ResolvedContract.of(d, "SMART") for d in details if d.contract is not None]
    chosen = [r for r in found if to_decimal(r.contract.strike) in wanted]
    return sorted(chosen, key=lambda r: (r.contract.strike, r.contract.right))


async def _quotes(ib: IB, contracts: list[ResolvedContract], timeout: float) -> list[OptionQuote]:
    results = await snapshots(ib, contracts, LIVE_OR_FROZEN, timeout)
    retry = [i for i, r in enumerate(results) if is_unsubscribed(r)]
    if retry:
        again = await snapshots(ib, [contracts[i] for i in retry], DELAYED_OR_FROZEN, timeout)
        for i, result in zip(retry, again, strict=True):
            results[i] = result
    quotes = []
    for resolved, result in zip(contracts, results, strict=True):
        contract = resolved.contract
        strike = to_decimal(contract.strike) or Decimal(0)
        quote = OptionQuote(
            ticker=f"{contract.symbol} {contract.lastTradeDateOrContractMonth[:8]} {strike.normalize():f} "
                   f"{contract.right[:1]}",
            broker_symbol_id=str(resolved.con_id), expiry=contract.lastTradeDateOrContractMonth[:8],
            strike=strike, right=contract.right[:1],
        )
        if not isinstance(result, TradeError):
            quote = quote.model_copy(update={
                "bid": to_price(result.bid), "ask": to_price(result.ask), "last": to_price(result.last),
                "greeks": greeks(result), "market_data": KINDS.get(result.marketDataType, MarketDataKind.UNKNOWN),
            })
        quotes.append(quote)
    return quotes
