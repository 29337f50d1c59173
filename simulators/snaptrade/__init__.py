"""SnapTrade API simulator: a stateful HTTP server the unmodified snaptrade-python-sdk talks to.

It imports nothing from the rest of the project (standard library only).

    from simulators.snaptrade import SnapTradeSimulator
    sim = SnapTradeSimulator().start()          # 127.0.0.1, free port, daemon thread
    demo = sim.seed_demo()                      # user/secret, 2 accounts, AAPL MSFT SPY QQQ TSLA ...
    client = SnapTrade(auth=SnapTradeAuth.commercial_api_key(consumer_key=sim.consumer_key,
                                                             client_id=sim.client_id),
                       host=sim.base_url)
    ...
    sim.stop()

Error bodies are `{"detail", "status_code", "code"}`; the codes are listed in `errors.py`
(1076 bad signature, 1077 bad clientId, 1078 stale timestamp, 1083 bad user/secret,
1011 insufficient funds, 1012 insufficient position, 1013 trade expired, 1014 trade used,
1015 unknown trade, 1016 order already final, 1017 duplicate client_order_id,
1020 not found, 1103 trading not allowed).
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
