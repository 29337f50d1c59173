"""SnapTrade API simulator: a stateful HTTP server the unmodified snaptrade-python-sdk talks to.

It imports nothing from the rest of the project.

    from simulators.snaptrade import SnapTradeSimulator
    sim = SnapTradeSimulator().start()
    demo = sim.seed_demo()
    ...
    sim.stop()
"""

from .auth import compute_signature
from .cli import main, serve
from .errors import ApiError
from .faults import Fault, LoggedRequest
from .models import FINAL_STATUSES, ORDER_STATUSES
from .server import DEMO_USER_ID, DEMO_USER_SECRET, SnapTradeSimulator
from .trading import CANCEL_POLICIES, FILL_POLICIES

__all__ = [
    "CANCEL_POLICIES",
    "DEMO_USER_ID",
    "DEMO_USER_SECRET",
    "FILL_POLICIES",
    "FINAL_STATUSES",
    "ORDER_STATUSES",
    "ApiError",
    "Fault",
    "LoggedRequest",
    "SnapTradeSimulator",
    "compute_signature",
    "main",
    "serve",
]
