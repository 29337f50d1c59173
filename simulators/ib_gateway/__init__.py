"""IB Gateway simulator: an asyncio TCP server speaking the TWS API socket protocol.

Standalone by design (imports nothing from the rest of tradeexec) so demos, tests and
benchmarks can run a "gateway" without IBKR software or credentials.
"""

from .orders import ExecutionSnapshot, OrderSnapshot
from .server import AccountSnapshot, IBGatewaySimulator, PositionSnapshot

__all__ = [
    "AccountSnapshot",
    "ExecutionSnapshot",
    "IBGatewaySimulator",
    "OrderSnapshot",
    "PositionSnapshot",
]
