"""Reuse the MCP suite's in-process server fixtures (in-memory brokers, real PostgreSQL)."""

from tests.mcp.conftest import ibkr, make_server, snaptrade

__all__ = ["ibkr", "make_server", "snaptrade"]
