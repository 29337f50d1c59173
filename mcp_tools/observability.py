"""MCP side of the call telemetry: one call scope per `tools/call` (correlation id, log line, metrics).

The scope wraps the SDK's handling of the call, so the correlation contextvar reaches the tool and
the worker thread the service runs on, and the trade_events of the call carry the same id.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from telemetry.calls import call_scope

UNKNOWN_TOOL = "unknown_tool"


class ToolCallTelemetry:
    """Server middleware (`server.middleware.append(ToolCallTelemetry(names))`).

    `tool_names` lists the tools whose names may label metrics; any other name is `unknown_tool`,
    so a client cannot grow the metric label set without bound.
    """

    def __init__(self, tool_names: Callable[[], Collection[str]]) -> None:
        self.tool_names = tool_names

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        params = ctx.params
        if ctx.method != "tools/call" or not isinstance(params, Mapping):
            return await call_next(ctx)
        requested = params.get("name")
        name = requested if isinstance(requested, str) and requested in self.tool_names() else UNKNOWN_TOOL
        with call_scope("mcp", name) as record:
            arguments = params.get("arguments")
            if isinstance(arguments, Mapping):
                record.note_arguments(arguments)
            result = await call_next(ctx)
            code = _error_code(result)
            if code is not None:
                record.fail(code)
            return result


def _error_code(result: Any) -> str | None:
    """The error_code of a tool error result (wire mapping or model), else None."""
    if isinstance(result, Mapping):
        is_error, data = result.get("isError"), result.get("structuredContent")
    else:
        is_error, data = getattr(result, "is_error", None), getattr(result, "structured_content", None)
    if not is_error:
        return None
    code = data.get("error_code") if isinstance(data, Mapping) else None
    return str(code) if code else "TOOL_ERROR"
