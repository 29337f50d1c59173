"""Prometheus metrics of the process, in the default registry (served on /metrics by the HTTP servers).

Families (all prefixed `tradeexec_`):
- `call_duration_seconds{kind,name,outcome}`: each MCP tool call (kind=mcp) and API request (kind=http).
- `broker_call_duration_seconds{broker,operation,outcome}`: each adapter call (preview, place, quote, ...).
- `order_outcomes_total{broker,status}`: what each execute ended as (SUBMITTED statuses, REJECTED, UNKNOWN, ...).
- `refusals_total{name,error_code}`: every structured refusal or failure a caller received.
- `broker_connected{broker}`: 1 while the last call to the broker reached it, 0 after a connection failure.
- `reconciliation_backlog{status}`: orders SUBMITTING / UNKNOWN (read from the database at scrape time).
- `ibkr_pacing_stalls_total{kind}`: from the IBKR connection's pacing stats, read at scrape time:
  kind=ib_async_queue (ib_async's own queue formed: a placement could have waited) and
  kind=read_delayed (a read waited in our budget so that no placement waits behind it).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

CALL_DURATION = Histogram(
    "tradeexec_call_duration_seconds", "Duration of MCP tool calls and HTTP API requests.",
    ("kind", "name", "outcome"), buckets=LATENCY_BUCKETS,
)
BROKER_CALL_DURATION = Histogram(
    "tradeexec_broker_call_duration_seconds", "Duration of calls into a broker adapter.",
    ("broker", "operation", "outcome"), buckets=LATENCY_BUCKETS,
)
ORDER_OUTCOMES = Counter(
    "tradeexec_order_outcomes_total", "Executes by the status they ended with, per broker.", ("broker", "status"),
)
REFUSALS = Counter(
    "tradeexec_refusals_total", "Structured refusals and failures answered to callers, by code.",
    ("name", "error_code"),
)
BROKER_CONNECTED = Gauge(
    "tradeexec_broker_connected", "1 while the last call reached the broker, 0 after a connection failure.",
    ("broker",),
)

CONNECTION_FAILURES = frozenset({"BROKER_UNAVAILABLE", "ORDER_OUTCOME_UNKNOWN"})
BROKER_OPERATIONS = (
    "list_accounts", "search_symbol", "get_quote", "get_account_balance", "get_positions", "preview_order",
    "place_order", "get_orders", "get_order", "cancel_order", "find_order_by_ref",
)

BacklogSource = Callable[[], Mapping[str, int]]


class BacklogCollector(Collector):
    """Reads the reconciliation backlog from each registered source when Prometheus scrapes."""

    def __init__(self) -> None:
        self._sources: dict[int, BacklogSource] = {}
        self._lock = threading.Lock()

    def add(self, source: BacklogSource) -> Callable[[], None]:
        with self._lock:
            key = id(source)
            self._sources[key] = source

        def remove() -> None:
            with self._lock:
                self._sources.pop(key, None)

        return remove

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "tradeexec_reconciliation_backlog", "Orders whose outcome is not settled yet (SUBMITTING, UNKNOWN).",
            labels=("status",),
        )
        totals: dict[str, int] = {"SUBMITTING": 0, "UNKNOWN": 0}
        with self._lock:
            sources = list(self._sources.values())
        for source in sources:
            try:
                for status, count in source().items():
                    totals[status] = totals.get(status, 0) + count
            except Exception as exc:  # a scrape must never fail because the database is down
                log.warning("reconciliation backlog unavailable: %s", type(exc).__name__)
                return
        for status, count in sorted(totals.items()):
            family.add_metric((status,), count)
        yield family


BACKLOG = BacklogCollector()
REGISTRY.register(BACKLOG)


class PacingCollector(Collector):
    """IBKR pacing stalls, summed over the connections of the adapters instrumented in this process."""

    def __init__(self) -> None:
        self._stats: list[Any] = []

    def add(self, stats: Any) -> None:
        if all(known is not stats for known in self._stats):
            self._stats.append(stats)

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "tradeexec_ibkr_pacing_stalls", "IBKR requests held back by pacing.", labels=("kind",),
        )
        family.add_metric(("ib_async_queue",), sum(int(getattr(s, "ib_async_stalls", 0)) for s in self._stats))
        family.add_metric(("read_delayed",), sum(int(getattr(s, "reads_delayed", 0)) for s in self._stats))
        yield family


PACING = PacingCollector()
REGISTRY.register(PACING)


def observe_order_outcome(broker: str, status: str) -> None:
    ORDER_OUTCOMES.labels(broker=broker, status=status).inc()


def instrument_adapter(adapter: Any) -> Any:
    """Time every broker call of `adapter` and track its connection state (wraps the instance's methods)."""
    broker = str(getattr(getattr(adapter, "provider", None), "value", "unknown"))
    BROKER_CONNECTED.labels(broker=broker)
    pacing_stats = getattr(getattr(getattr(adapter, "manager", None), "pacing", None), "stats", None)
    if pacing_stats is not None:
        PACING.add(pacing_stats)
    for operation in BROKER_OPERATIONS:
        method = getattr(adapter, operation, None)
        if callable(method) and not getattr(method, "_tradeexec_timed", False):
            setattr(adapter, operation, _timed(method, broker, operation))
    return adapter


def _timed(method: Callable[..., Any], broker: str, operation: str) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        outcome = "ok"
        try:
            result = method(*args, **kwargs)
        except Exception as exc:
            code = str(getattr(getattr(exc, "code", None), "value", "") or type(exc).__name__)
            outcome = code
            if code in CONNECTION_FAILURES or isinstance(exc, ConnectionError | TimeoutError):
                BROKER_CONNECTED.labels(broker=broker).set(0)
            else:
                BROKER_CONNECTED.labels(broker=broker).set(1)
            raise
        else:
            BROKER_CONNECTED.labels(broker=broker).set(1)
            return result
        finally:
            BROKER_CALL_DURATION.labels(broker=broker, operation=operation, outcome=outcome).observe(
                time.perf_counter() - started
            )

    call._tradeexec_timed = True  # type: ignore[attr-defined]
    return call


def exposition() -> tuple[bytes, str]:
    """The text format body and its content type, for a /metrics route."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def serve_metrics_port(port: int, host: str = "127.0.0.1") -> None:
    """/metrics on a port of its own (for stdio MCP, which has no HTTP server); loopback unless told."""
    start_http_server(port, addr=host)
    log.info("Prometheus metrics on http://%s:%d/metrics", host, port)
