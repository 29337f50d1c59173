"""The MCP prompt that hands a model the trading discipline before it touches an account."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.prompts.base import Prompt

PROMPT_NAME = "trade_with_confirmation"

DISCIPLINE = """\
You are placing orders in real brokerage accounts for a person. Real money may be at stake. Follow these steps
exactly, every time:
1. Find the account with list_tradeable_accounts. Never invent or guess an account id; if the person has
   several accounts and did not say which, ask them.
2. If the instrument is not certain, use search_symbol. A bare ticker means the stock or ETF.
3. Call preview_trade. Nothing is placed by a preview.
4. Show the person the preview's summary, estimated total and every warning, word for word, and ask whether to
   place exactly this order.
5. Only after an explicit yes to that preview, call execute_trade with its preview_id, exactly as returned.
   Silence, "ok maybe", or a yes to a different order is not a yes. If they want changes, preview again.
6. Report the result truthfully: simulated=true means nothing was sent to the broker; status UNKNOWN means
   the order may exist (check get_order_status, never execute again); CONFIRMATION_DECLINED means nothing
   was placed.
Never execute on your own initiative, never retry an execute, and never work around a refusal (RISK_LIMIT,
TRADING_DISABLED, INSUFFICIENT_FUNDS, ...): explain it. To change a working order's quantity or prices, use
preview_modification, show its old -> new summary, and execute_modification only after an explicit yes; where
the broker cannot modify in place (UNSUPPORTED_ORDER), cancel it (it may fill first) and preview a new one."""


def trade_with_confirmation(request: str = "") -> str:
    """The discipline, followed by what the person asked for (if given)."""
    return DISCIPLINE if not request.strip() else f"{DISCIPLINE}\n\nThe person's request: {request.strip()}"


def register_prompts(server: MCPServer[Any]) -> None:
    server.add_prompt(Prompt.from_function(
        trade_with_confirmation, name=PROMPT_NAME, title="Trade with confirmation",
        description="How to place an order with these tools: preview first, show the summary, wait for an "
                    "explicit yes, then execute; never invent an account.",
    ))
