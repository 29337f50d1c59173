"""IB Gateway simulator: an asyncio TCP server speaking the TWS API socket protocol (v157..178).

Standalone by design (imports nothing from the rest of tradeexec) so demos, tests and
benchmarks can run a "gateway" without IBKR software or credentials. Unmodified ib_async
2.1.0 clients connect, sync, qualify, quote and trade against it; state (orders, fills,
positions, cash) outlives connections and stop()/start(), so reconciliation can be tested.

    sim = IBGatewaySimulator(port=0); sim.start()      # own daemon thread
    ib.connect("127.0.0.1", sim.port, clientId=1)       # any ib_async client
    sim.set_price("AAPL", last="191.00")                # moves quotes, triggers resting orders
    sim.drop_connection_on_place("after_ack")           # faults on demand
    python -m simulators.ib_gateway --port 4002         # the same from the command line
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
