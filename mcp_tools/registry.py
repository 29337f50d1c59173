"""One wrapper turns a service call into an MCP tool, so a tool is its signature, its description and one call.

    TRADE_TOOLS = ToolRegistry()

    @TRADE_TOOLS.tool("Get positions", READ, output=PositionsResult)
    def get_positions(service: TradeExecutionService, account_id: args.AccountId) -> dict[str, Any]:
        \"\"\"Holdings of one account. Read-only.\"\"\"        # the description the model reads
        return {"positions": service.get_positions(account_id)}

The wrapper publishes every `Annotated[..., Arg(...)]` (or `ArgGroup`) parameter's JSON schema, parses
every argument exactly once in one resolver (all problems in one VALIDATION_ERROR, named by the tool's
own argument names, before anything is called), runs the synchronous call on a worker thread, and turns
the outcome into JSON or a `{error_code, message, details}` tool error with configured secrets scrubbed.
Other resolvers (the execute confirmation) depend on that same parse, so what a human confirms is the
very object the call receives. Add tools in your own module with your own registry and list it in
`mcp_tools.tools.TOOLSETS`.
"""

# No `from __future__ import annotations`: the SDK reads these annotations as live objects.

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol, get_args, get_origin

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer, Resolve
from mcp.server.mcpserver.resolve import ElicitationResult
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema

from brokers.errors import ErrorCode, TradeError
from brokers.user_context import scoped_to
from mcp_tools import hints
from mcp_tools.results import Redactor, failure, internal_error, ok
from mcp_tools.runtime import ServiceProvider, secret_values
from services.trade_execution import TradeExecutionService

log = logging.getLogger(__name__)
UNEXPECTED = "unexpected_arguments"
"""Hidden parameter through which ArgumentGuard reports argument names the tool does not take."""

REQUIRED: Any = inspect.Parameter.empty
Parser = Callable[[str, Any], Any]


@dataclass(frozen=True)
class Arg:
    """One published argument: its JSON schema and the parser to its canonical form (None: kept as given)."""

    schema: dict[str, Any]
    parse: Parser | None = None


@dataclass(frozen=True)
class ArgGroup:
    """Several published arguments parsed together into one object (an order's terms)."""

    members: Mapping[str, tuple[Arg, Any]]
    parse: Callable[..., Any]


@dataclass(frozen=True)
class Parsed:
    """The outcome of parsing one call's arguments: canonical values, or the error listing every problem."""

    values: dict[str, Any]
    error: TradeError | None = None


class ConfirmStep(Protocol):
    """Asks the human before a tool acts; its answer reaches the tool as `confirmation`."""

    @property
    def schema(self) -> type[BaseModel]: ...

    async def ask(self, parsed: Parsed, ctx: Context[Any, Any]) -> Any: ...


Call = Callable[..., Any]
ConfirmFactory = Callable[["ToolRuntime"], ConfirmStep]


@dataclass
class ToolSpec:
    fn: Call
    title: str
    annotations: ToolAnnotations
    description: str
    output: type[BaseModel] | None = None
    confirm: ConfirmFactory | None = None
    published: dict[str, tuple[Arg, Any]] = field(default_factory=dict)
    groups: dict[str, ArgGroup] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.fn.__name__

    def required(self) -> frozenset[str]:
        return frozenset(n for n, (_a, default) in self.published.items() if default is REQUIRED)

    def optional(self) -> frozenset[str]:
        return frozenset(self.published) - self.required()


def _arg_of(annotation: Any) -> Arg | ArgGroup | None:
    if get_origin(annotation) is not Annotated:
        return None
    return next((m for m in get_args(annotation)[1:] if isinstance(m, Arg | ArgGroup)), None)


def _spec_of(fn: Call, title: str, annotations: ToolAnnotations, output: type[BaseModel] | None,
             confirm: ConfirmFactory | None) -> ToolSpec:
    spec = ToolSpec(fn, title, annotations, " ".join((inspect.getdoc(fn) or "").split()), output, confirm)
    params = list(inspect.signature(fn, eval_str=True).parameters.values())[1:]  # the first is the service
    for param in params:
        if param.name == "confirmation" and confirm is not None:
            continue
        arg = _arg_of(param.annotation)
        if isinstance(arg, ArgGroup):
            spec.groups[param.name] = arg
            spec.published.update(arg.members)
        elif isinstance(arg, Arg):
            spec.published[param.name] = (arg, param.default)
        else:
            raise TypeError(f"{spec.name}: parameter {param.name} needs an Arg or ArgGroup annotation")
    return spec


def _problems(exc: TradeError, name: str) -> list[dict[str, str]]:
    listed = exc.details.get("problems")
    return list(listed) if isinstance(listed, list) else [{"field": name, "problem": exc.message}]


def parse_arguments(spec: ToolSpec, raw: Mapping[str, Any]) -> Parsed:
    """Every argument parsed once, every problem collected, so the caller can fix a call in one go."""
    unexpected = raw.get(UNEXPECTED) or []
    problems = [{"field": str(n), "problem": f"unknown argument {str(n)!r}"} for n in unexpected]
    grouped = {m for group in spec.groups.values() for m in group.members}
    flat: dict[str, Any] = {}
    for name, (arg, default) in spec.published.items():
        value = raw.get(name)
        if value is None and default is REQUIRED:
            if name not in grouped:  # a group's own parse names its missing members
                problems.append({"field": name, "problem": f"{name} is required"})
            continue
        value = default if value is None else value
        try:
            flat[name] = value if value is None or arg.parse is None else arg.parse(name, value)
        except TradeError as exc:
            problems.extend(_problems(exc, name))
    values = {n: v for n, v in flat.items() if n not in grouped}
    for name, group in spec.groups.items():
        try:
            values[name] = group.parse(**{m: flat[m] for m in group.members if m in flat})
        except TradeError as exc:
            problems.extend(p for p in _problems(exc, name) if p not in problems)
    if not problems:
        return Parsed(values)
    summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    error = TradeError(ErrorCode.VALIDATION_ERROR, f"Invalid arguments: {summary}", {"problems": problems})
    return Parsed({}, error)


class ToolRuntime:
    """What every tool call shares: the lazily built service and the scrubber of secret values."""

    def __init__(self, provider: ServiceProvider, redact: Redactor) -> None:
        self.provider = provider
        self.redact = redact
        self._secrets_known = False

    def service(self) -> TradeExecutionService:
        """Blocking (a worker thread): the service, its configured secrets added to the scrubber once."""
        built = self.provider.get()
        if not self._secrets_known:
            self.redact.add(*secret_values(built.settings))
            self._secrets_known = True
        return built

    async def run(
        self, tool: str, call: Callable[[TradeExecutionService], Any], arguments: Mapping[str, Any] | None = None,
    ) -> CallToolResult:
        def work() -> dict[str, Any]:
            service = self.service()
            # a tool taking user_email acts for that user (their broker credentials) for the whole call
            with scoped_to((arguments or {}).get("user_email")):
                try:
                    return _json_ready(call(service))
                except TradeError as exc:
                    raise hints.specific(service, exc, arguments or {}) from None

        try:
            payload = await anyio.to_thread.run_sync(work)
        except TradeError as exc:
            return failure(exc, self.redact)
        except Exception as exc:
            return failure(internal_error(tool, exc), self.redact)
        return ok(payload, self.redact)

    def refuse(self, error: TradeError) -> CallToolResult:
        return failure(error, self.redact)

    async def refuse_invalid(self, error: TradeError, raw: Mapping[str, Any]) -> CallToolResult:
        """Invalid arguments; an account's name given as account_id is answered with its id (hints)."""
        given = raw.get("account_id")
        problems = error.details.get("problems")
        if isinstance(given, str) and isinstance(problems, list) and any(
                isinstance(p, dict) and p.get("field") == "account_id" for p in problems):
            refused = error
            try:
                error = await anyio.to_thread.run_sync(lambda: hints.invalid_account(self.service(), refused, given))
            except Exception as exc:  # no service (database down): the refusal as it was
                log.info("no account hint: %s", type(exc).__name__)
        return failure(error, self.redact)


def _json_ready(payload: Any) -> dict[str, Any]:
    if isinstance(payload, BaseModel):
        return payload.model_dump(mode="json")
    if not isinstance(payload, dict):
        raise TypeError(f"a tool call must return a dict or a model, not {type(payload).__name__}")
    return payload


def _raw_parameters(spec: ToolSpec) -> list[inspect.Parameter]:
    """What the SDK publishes and passes through untouched: `Any`, so every check is ours and structured."""
    params = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                          annotation=Annotated[Any, WithJsonSchema(arg.schema)])
        for name, (arg, default) in spec.published.items()
    ]
    params.append(inspect.Parameter(UNEXPECTED, inspect.Parameter.KEYWORD_ONLY, default=None,
                                    annotation=Annotated[Any, SkipJsonSchema()]))
    return params


def _with_signature(fn: Callable[..., Any], name: str, params: list[inspect.Parameter], returns: Any) -> None:
    fn.__name__ = fn.__qualname__ = name
    fn.__signature__ = inspect.Signature(params, return_annotation=returns)  # type: ignore[attr-defined]
    fn.__annotations__ = {p.name: p.annotation for p in params} | {"return": returns}


def build_tool(spec: ToolSpec, runtime: ToolRuntime) -> Callable[..., Awaitable[CallToolResult]]:
    """The async function the SDK registers: raw parameters in, one parse resolver, the call on a worker thread."""
    raw = _raw_parameters(spec)

    async def parse(**arguments: Any) -> Parsed:
        return parse_arguments(spec, arguments)

    _with_signature(parse, f"{spec.name}_arguments", raw, Parsed)
    resolved = [inspect.Parameter("parsed", inspect.Parameter.KEYWORD_ONLY,
                                  annotation=Annotated[Parsed, Resolve(parse)])]
    step = spec.confirm(runtime) if spec.confirm is not None else None
    if step is not None:
        async def confirm(parsed: Annotated[Parsed, Resolve(parse)], ctx: Context) -> Any:
            return await step.ask(parsed, ctx)

        confirm.__qualname__ = f"{spec.name}_confirmation"
        resolved.append(inspect.Parameter(
            "confirmation", inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[ElicitationResult[step.schema], Resolve(confirm)],  # type: ignore[name-defined]
        ))

    async def tool(**arguments: Any) -> CallToolResult:
        parsed: Parsed = arguments["parsed"]
        if parsed.error is not None:
            return await runtime.refuse_invalid(parsed.error, arguments)
        extra = {"confirmation": arguments["confirmation"]} if step is not None else {}
        return await runtime.run(spec.name, lambda service: spec.fn(service, **parsed.values, **extra), parsed.values)

    returns = Annotated[CallToolResult, spec.output] if spec.output is not None else CallToolResult
    _with_signature(tool, spec.name, raw + resolved, returns)
    return tool


class ToolRegistry:
    """A set of tools declared with `@registry.tool(...)`, added to a server by `register`."""

    def __init__(self) -> None:
        self.specs: list[ToolSpec] = []

    def tool(
        self, title: str, annotations: ToolAnnotations, *, output: type[BaseModel] | None = None,
        confirm: ConfirmFactory | None = None,
    ) -> Callable[[Call], Call]:
        def declare(fn: Call) -> Call:
            self.specs.append(_spec_of(fn, title, annotations, output, confirm))
            return fn

        return declare

    def register(self, server: MCPServer[Any], runtime: ToolRuntime) -> None:
        from mcp_tools.arguments import ArgumentGuard, ToolArguments

        server.middleware.append(ArgumentGuard({s.name: ToolArguments(s.required(), s.optional()) for s in self.specs}))
        for spec in self.specs:
            hints = spec.annotations.model_copy(update={"title": spec.title})
            server.add_tool(build_tool(spec, runtime), title=spec.title, description=spec.description,
                            annotations=hints, structured_output=spec.output is not None)
