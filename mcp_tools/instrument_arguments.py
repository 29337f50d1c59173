"""preview_trade's instrument arguments and the ticker notations its description promises.

`brokers.instruments` accepts exactly what is documented here: keep the two in step.
"""

from __future__ import annotations

from typing import Any

from brokers.instruments import SecType
from mcp_tools.registry import Arg

ORDER_TICKER_SCHEMA: dict[str, Any] = {
    "type": "string", "minLength": 1, "maxLength": 64,
    "description": (
        "What to trade. A bare ticker ('AAPL', 'SPY', 'VOD') is ALWAYS the stock or ETF, never a future or an "
        "option. Futures (IBKR), only when the human asked for a future: '/ES' or '/MES' = the front month (the "
        "contract with the nearest last trading day after today), 'MES 202612' or '/ES 202612' = that contract "
        "month, '/MESZ6' or '/MESZ26' = root + month code (F G H J K M N Q U V X Z) + year (last digit: the next "
        "such year; or two digits); or the bare root with sec_type='FUT' (and expiry for a month). Options "
        "(IBKR): the OCC symbol 'SPY   261218C00600000' (spaces optional), 'SPY 20261218 600 C' (C/P or "
        "CALL/PUT), or the underlying with sec_type='OPT', expiry, strike and right. Use search_symbol first "
        "when unsure of the symbol."
    ),
}


def _text(pattern: str, description: str) -> dict[str, Any]:
    return {"anyOf": [{"type": "string", "pattern": pattern}, {"type": "null"}], "default": None,
            "description": description}


def _number(description: str) -> dict[str, Any]:
    return {"anyOf": [{"type": "number", "exclusiveMinimum": 0},
                      {"type": "string", "pattern": r"^(?=.*[0-9])[0-9]*\.?[0-9]*$", "minLength": 1},
                      {"type": "null"}], "default": None, "description": description}


INSTRUMENT_TERMS: dict[str, tuple[Arg, Any]] = {
    "sec_type": (Arg({
        "anyOf": [{"type": "string", "enum": [SecType.STOCK.value, SecType.FUTURE.value, SecType.OPTION.value]},
                  {"type": "null"}], "default": None,
        "description": "Security type: STK (default: stock or ETF), FUT (future) or OPT (option); IBKR only for "
                       "FUT and OPT. Give it only when the human asked for a future or an option. (IND, an index, "
                       "is for quotes only and is refused here.)",
    }), None),
    "exchange": (Arg(_text(
        r"^[A-Za-z][A-Za-z0-9.]{0,15}$",
        "Optional listing exchange, e.g. 'LSE' for a London stock, 'CME' for a future, 'CBOE' for index options "
        "(SPX). Leave out for US stocks (SMART routing).")), None),
    "currency": (Arg(_text(
        r"^[A-Za-z]{3}$",
        "Optional currency of the listing, e.g. 'GBP' for VOD on LSE. Leave out to take the listing's own "
        "currency (shown in the preview); a currency that differs from the listing's is refused.")), None),
    "expiry": (Arg(_text(
        r"^[0-9]{6}([0-9]{2})?$",
        "FUT: contract month YYYYMM (leave out for the front month). OPT: expiry date YYYYMMDD (required unless "
        "the ticker is an OCC symbol). Not allowed for STK.")), None),
    "strike": (Arg(_number("OPT only (required): the strike price. Not allowed for STK or FUT.")), None),
    "right": (Arg({
        "anyOf": [{"type": "string", "enum": ["C", "P", "CALL", "PUT"]}, {"type": "null"}], "default": None,
        "description": "OPT only (required): C (call) or P (put). Not allowed for STK or FUT.",
    }), None),
    "multiplier": (Arg(_number(
        "FUT/OPT, optional: the contract multiplier to insist on (e.g. 100 for US equity options); the preview "
        "shows the broker's.")), None),
}
