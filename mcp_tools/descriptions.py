"""What the model reads about the server as a whole; each tool's own description is its docstring in tools.py."""

from __future__ import annotations

SERVER_INSTRUCTIONS = """\
Trade execution for brokerage accounts (Interactive Brokers and SnapTrade). Real money may be at stake.
To place an order: (1) preview_trade, (2) show the preview's summary, estimated total and warnings to the
human, (3) call execute_trade with that preview_id ONLY after the human explicitly confirms that exact order.
Never execute on your own initiative, never re-execute or 'retry' an order, and never invent account ids:
take them from list_tradeable_accounts. Failures are tool errors whose JSON has error_code, message, details.
"""
