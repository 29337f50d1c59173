"""IB Gateway simulator: an asyncio TCP server speaking the TWS API socket protocol.

Standalone by design (imports nothing from the rest of tradeexec) so demos, tests and
benchmarks can run a "gateway" without IBKR software or credentials.
"""

from .accounts import AccountSnapshot, PositionSnapshot
from .orders import ExecutionSnapshot, OrderSnapshot
from .server import IBGatewaySimulator

__all__ = [
    "AccountSnapshot",
    "ExecutionSnapshot",
    "IBGatewaySimulator",
    "OrderSnapshot",
    "PositionSnapshot",
]
