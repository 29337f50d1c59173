"""SnapTrade: any brokerage SnapTrade connects, through the snaptrade-python-sdk 13.x."""

from brokers.snaptrade.adapter import SnapTradeBrokerAdapter
from brokers.snaptrade.client import SnapTradeCredentials

__all__ = ["SnapTradeBrokerAdapter", "SnapTradeCredentials"]
