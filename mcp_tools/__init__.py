"""MCP tools for trade execution.

    from mcp_tools import register_tools
    register_tools(platform_server, service)   # the platform's own MCPServer and TradeExecutionService
"""

from mcp_tools.tools import TOOL_ARGUMENTS, register_tools

__all__ = ["TOOL_ARGUMENTS", "register_tools"]
