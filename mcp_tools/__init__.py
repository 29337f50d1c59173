"""MCP tools for trade execution.

    from mcp_tools import register_tools
    register_tools(platform_server, service)   # the platform's own MCPServer and TradeExecutionService
"""

from mcp_tools.registry import ToolRegistry
from mcp_tools.tools import TOOLSETS, register_tools

__all__ = ["TOOLSETS", "ToolRegistry", "register_tools"]
