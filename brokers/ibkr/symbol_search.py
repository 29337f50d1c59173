"""Finding instruments by name at IBKR (`search_symbol "apple"` -> AAPL), as SnapTrade's search does.

The gateway's matching-symbols request (reqMatchingSymbols, answered by symbolSamples) takes the
first letters of a ticker or a word of the security's name. Its answers follow the exact
resolution of the text as a ticker; a future is named in the notation an order takes ("/ES").
"""

from __future__ import annotations

from ib_async import IB

from brokers.instruments import parse_notation
from brokers.records import SymbolMatch

LISTED_TYPES = {"STK": "", "FUT": "/"}
"""Security types a search lists, and the prefix that names them as an order's ticker."""
MAX_MATCHES = 16


async def matching_symbols(ib: IB, text: str, known: list[SymbolMatch]) -> list[SymbolMatch]:
    """`known` (the exact match, if any) first, then what the gateway matches by ticker prefix or name."""
    if parse_notation(text) is not None:
        return known  # a derivative's notation names one contract: nothing to look up by name
    samples = await ib.reqMatchingSymbolsAsync(text) or []
    found = list(known)
    seen = {(m.ticker, m.sec_type) for m in known}
    for sample in samples:
        contract = sample.contract
        prefix = LISTED_TYPES.get(contract.secType) if contract is not None else None
        if contract is None or prefix is None:
            continue
        ticker = f"{prefix}{contract.symbol}"
        if (ticker, contract.secType) in seen:
            continue
        seen.add((ticker, contract.secType))
        found.append(SymbolMatch(
            ticker=ticker, broker_symbol_id=str(contract.conId), description=contract.description or None,
            sec_type=contract.secType, exchange=contract.primaryExchange or None, currency=contract.currency,
        ))
    return found[:MAX_MATCHES]
