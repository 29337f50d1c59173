"""What the LLM reads about each tool. The wording carries the safety protocol: preview, show, confirm, execute."""

from __future__ import annotations

SERVER_INSTRUCTIONS = """\
Trade execution for brokerage accounts (Interactive Brokers and SnapTrade). Real money may be at stake.
To place an order: (1) preview_trade, (2) show the preview's summary, estimated total and warnings to the
human, (3) call execute_trade with that preview_id ONLY after the human explicitly confirms that exact order.
Never execute on your own initiative, never re-execute or 'retry' an order, and never invent account ids:
take them from list_tradeable_accounts. Failures are tool errors whose JSON has error_code, message, details.
"""

DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "list_tradeable_accounts": (
        "List tradeable accounts",
        "List the brokerage accounts this server can trade in: account_id, provider (ibkr or snaptrade), name, "
        "currency and whether it is a paper account. Start here: every other tool needs an account_id from this "
        "list. Also reports trading_mode (paper or live), orders_enabled (false means execute_trade only "
        "records SIMULATED orders) and trading_blocked (why no order can be placed right now, or null). "
        "Read-only.",
    ),
    "search_symbol": (
        "Search a symbol",
        "Find the instruments matching a ticker at the broker of one account (ticker, broker_symbol_id, "
        "description, exchange, currency). Use it when the ticker is uncertain. Read-only.",
    ),
    "get_quote": (
        "Get a quote",
        "Current bid, ask, last and close for a ticker as the account's broker reports it, plus the "
        "reference_price used by the risk checks. 'delayed' is true for delayed data. Prices are decimal "
        "strings. Read-only.",
    ),
    "get_account_balance": (
        "Get account balance",
        "Cash, buying power, available funds and net liquidation value of one account, as decimal strings. "
        "Read-only.",
    ),
    "get_positions": (
        "Get positions",
        "Holdings of one account: ticker, quantity, average cost, market price and value. Read-only.",
    ),
    "preview_trade": (
        "Preview a trade (step 1 of 2)",
        "Step 1 of 2 for placing an order. Validates the order, applies the risk limits and asks the broker for "
        "an estimate; NOTHING is placed. Returns preview_id, a one-line summary, estimated price, commission and "
        "total, warnings and expires_at. You MUST then show the summary and any warnings to the human and obtain "
        "an explicit yes for this exact order before calling execute_trade. Previews expire after a few minutes. "
        "A refusal (RISK_LIMIT, INSUFFICIENT_FUNDS, SYMBOL_NOT_FOUND, VALIDATION_ERROR, ...) is a tool error: "
        "explain it to the human instead of working around it.",
    ),
    "execute_trade": (
        "Execute a confirmed preview (step 2 of 2)",
        "Step 2 of 2: place the order described by one preview, exactly once. Call it ONLY after the human has "
        "explicitly confirmed that preview's summary in this conversation - never on your own initiative and "
        "never as a retry. A preview executes at most once: a second call returns ALREADY_EXECUTED. An expired "
        "preview returns PREVIEW_EXPIRED: preview again and ask again. The server may ask the human to confirm "
        "through the client; if they decline, nothing is placed (status NOT_CONFIRMED). If the result says "
        "simulated=true (ORDERS_ENABLED is off), the order was only recorded and nothing was sent to the broker: "
        "say so plainly. If the status is UNKNOWN the order may exist: do not execute again, check "
        "get_order_status.",
    ),
    "get_orders": (
        "List orders",
        "Orders placed through this service, newest first, optionally for one account, filtered by state "
        "(all, open, executed) and age in days. Read-only.",
    ),
    "get_order_status": (
        "Get order status",
        "Current status of one order (PENDING, ACCEPTED, PARTIAL, EXECUTED, CANCELED, REJECTED, FAILED, EXPIRED, "
        "UNKNOWN, SIMULATED) with filled quantity and average price, refreshed from the broker when it may have "
        "changed. 'stale': true means the broker could not be asked and the stored status is shown. Read-only.",
    ),
    "cancel_order": (
        "Cancel an order",
        "Ask the broker to cancel a working order (PENDING, ACCEPTED or PARTIAL). Confirm with the human first. "
        "Filled or otherwise final orders cannot be canceled (ORDER_NOT_CANCELABLE). The result shows the "
        "status the broker reported; a cancel can race a fill.",
    ),
    "execute_trades": (
        "Execute a basket of confirmed previews",
        "Execute several confirmed previews as one basket (best effort per leg). Call it ONLY after the human has "
        "explicitly confirmed every leg's summary. Each leg is placed at most once; one leg's refusal does not stop "
        "the others. status: completed (every leg placed), partial, failed (none placed), or needs_confirmation "
        "(some previews had expired: reprieved_legs gives each new_preview_id, which the human must confirm again "
        "before it is executed with execute_trade or execute_trades). Nothing expired is ever placed.",
    ),
}
