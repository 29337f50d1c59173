"""IBKRConnectionManager: one ib_async `IB` per gateway endpoint, on its own event-loop thread.

The service is synchronous and ib_async is asyncio; the manager is the bridge. Every operation
is written once as a coroutine taking the `IB`; callers submit it with `run_sync`, which bounds it
by its timeout and turns every failure into the same errors. The loop thread
keeps running between calls, so order events (status, fills, commissions) arriving at any
time are handed to listeners, and a lost connection is re-established by a small state
machine (see `_supervise`) without anyone asking.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from ib_async import IB, Trade

from brokers.errors import TradeError
from brokers.ibkr import status as codes
from brokers.ibkr.attempt import connect_once
from brokers.ibkr.lifecycle import Backoff, CallKind, ConnectionState, Endpoint, HealthReport, LastError, unavailable
from brokers.ibkr.loop_thread import Listeners, LoopThread
from brokers.ibkr.pacing import DEFAULT_RESERVE, OPERATION_COSTS, Coalescer, PacingBudget

log = logging.getLogger(__name__)
T = TypeVar("T")
Operation = Callable[[IB], Awaitable[T]]
LostCall = Callable[[float], TradeError]
"""Builds the error for a call that ended without an answer (timeout or dropped connection)."""
OrderListener = Callable[[Trade], None]
_SYNC_GRACE_SECONDS = 1.0
"""Extra time a sync caller waits for the loop to report the timeout itself."""


class IBKRConnectionManager:
    """Owns the connection to one IB Gateway endpoint. `registry.shared_manager` gives the process-wide one."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: int,
        *,
        request_timeout: float = 10.0,
        connect_timeout: float | None = None,
        backoff: Backoff | None = None,
        restore_grace: float = 60.0,
        max_requests_per_second: int = 45,
        order_reserve: int = DEFAULT_RESERVE,
    ) -> None:
        self.endpoint = Endpoint(host, port, client_id)
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout or request_timeout
        self.backoff = backoff or Backoff()
        self.restore_grace = restore_grace
        self.max_requests_per_second = max_requests_per_second
        self.pacing = PacingBudget(max_requests_per_second, order_reserve, sent=lambda: self.messages_sent)
        """Reads wait here for room so that placements never wait behind them in ib_async's queue."""
        self.background = Coalescer()
        self._sent_before = 0
        self._lock = threading.Lock()
        self._runner: LoopThread | None = None
        self._ib: IB | None = None
        self._closed = False
        # State below is written only on the loop thread; `_lock` guards what health() reads.
        self._state = ConnectionState.IDLE
        self._changed: asyncio.Event | None = None
        self._nudge: asyncio.Event | None = None
        self._session_ended: asyncio.Event | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._grace_task: asyncio.Task[None] | None = None
        self._attempts_done = 0
        self._failed_attempts = 0
        self._connections = 0
        self._ever_connected = False
        self._server_version: int | None = None
        self._accounts: tuple[str, ...] = ()
        self._connected_since: datetime | None = None
        self._last_error: LastError | None = None
        self.order_listeners: Listeners[OrderListener] = Listeners()
        """Called on the loop thread with the Trade, for every status, fill and commission event."""
        self.reconnect_listeners: Listeners[Callable[[], None]] = Listeners()
        """Called on the event worker thread after a REconnect (or a restored 1100)."""

    # --- public API ------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def run_sync(
        self, operation: Operation[T], *, timeout: float | None = None, kind: CallKind = CallKind.READ,
        on_lost: LostCall | None = None, cost: int | None = None,
    ) -> T:
        """Run `operation(ib)` on the loop thread and wait for it; never longer than the timeout.

        `cost`: the most messages the operation sends (pacing; defaults by kind, see OPERATION_COSTS)."""
        limit = timeout or self.request_timeout
        runner = self._ensure_runner()
        if runner.on_loop_thread():
            raise RuntimeError("run_sync was called on the IB loop thread; it would wait for itself")
        messages = cost if cost is not None else OPERATION_COSTS[kind.value]
        future = runner.submit(self._call(operation, limit, kind, on_lost, messages))
        try:
            return future.result(limit + _SYNC_GRACE_SECONDS)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise (on_lost or self._timed_out)(limit) from None
        except concurrent.futures.CancelledError:  # shut down mid-call: an order may have gone out
            raise (on_lost or self._shut_down)(limit) from None

    def request_background(self, key: str, operation: Operation[None], *, cost: int) -> None:
        """Run `operation` soon on the loop, without waiting; skipped unless connected. At most one run per
        `key` is in flight and requests made meanwhile coalesce into one more (see Coalescer)."""
        limit = self.request_timeout

        async def request() -> None:
            self.background.request(key, lambda: self._if_connected(operation, limit, cost))

        self._ensure_runner().submit(request())

    @property
    def account_summary_cached(self) -> bool:
        """The account summary is subscribed, so reading balances sends nothing (ib_async answers from cache)."""
        ib = self._ib
        return ib is not None and bool(ib.wrapper.acctSummary)

    @property
    def messages_sent(self) -> int:
        """Messages written to the gateway by this manager, all sessions (for benchmarks and health)."""
        ib = self._ib
        return self._sent_before + (ib.client.conn.numMsgSent if ib is not None else 0)

    def session_event(self) -> asyncio.Event:
        """Set when the current session ends; for operations waiting on the gateway (loop thread only)."""
        if self._session_ended is None:
            raise RuntimeError("session_event is only valid inside an operation")
        return self._session_ended

    def health(self, *, connect: bool = False, timeout: float | None = None) -> HealthReport:
        """Connection facts for the CLI healthcheck; with connect=True, try to connect first."""
        if connect and not self._closed:
            with contextlib.suppress(TradeError):
                self.run_sync(lambda _ib: asyncio.sleep(0), timeout=timeout)
        with self._lock:
            return HealthReport(
                state=self._state, host=self.endpoint.host, port=self.endpoint.port,
                client_id=self.endpoint.client_id, server_version=self._server_version,
                accounts=self._accounts, last_error=self._last_error, connected_since=self._connected_since,
                connections=self._connections, failed_attempts=self._failed_attempts,
            )

    def dispatch(self, work: Callable[..., None], *args: Any) -> None:
        """Run blocking work (database writes) off the loop thread, in arrival order."""
        if self._runner is not None:
            self._runner.dispatch(work, *args)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Disconnect, stop the loop thread and drain pending event work. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            runner = self._runner
        if runner is not None:
            runner.stop(self._close_async(), timeout)

    # --- loop thread -------------------------------------------------------------------------
    def _ensure_runner(self) -> LoopThread:
        with self._lock:
            if self._closed:
                raise self._shut_down()
            if self._runner is None:
                runner = LoopThread(f"ibkr-loop-{self.endpoint.port}-{self.endpoint.client_id}")
                runner.start()
                runner.submit(self._setup()).result()
                self._runner = runner
            return self._runner

    async def _setup(self) -> None:
        """Create the IB inside its loop, so every future and transport belongs to that loop."""
        ib = IB()
        ib.RaiseRequestErrors = True
        ib.client.MaxRequests = self.max_requests_per_second  # IB allows ~50 msgs/s; ib_async paces below that
        ib.client.throttleStart += self._on_throttle
        ib.errorEvent += self._on_error
        ib.disconnectedEvent += self._on_disconnected
        ib.orderStatusEvent += self._on_trade
        ib.execDetailsEvent += self._on_trade
        ib.commissionReportEvent += self._on_trade
        self._ib = ib
        self._changed = asyncio.Event()
        self._nudge = asyncio.Event()

    async def _call(
        self, operation: Operation[T], limit: float, kind: CallKind, on_lost: LostCall | None, cost: int
    ) -> T:
        """Wait for readiness, then run; a read that meets a dying socket is retried once (reads are safe
        to repeat, placements never are)."""
        deadline = asyncio.get_running_loop().time() + limit
        for attempt in (1, 2):
            try:
                async with asyncio.timeout_at(deadline):  # inline in this task: wait_for made a task per step
                    ib = await self._ready(kind)
            except TimeoutError:
                raise self._timed_out(limit, connecting=True) from None
            try:
                async with asyncio.timeout_at(deadline):
                    if kind is CallKind.ORDER:
                        self.pacing.spend()
                        return await operation(ib)
                    await self.pacing.admit(cost)
                    try:
                        return await operation(ib)
                    finally:
                        self.pacing.release(cost)
            except TimeoutError:
                raise (on_lost or self._timed_out)(limit) from None
            except ConnectionError:
                if on_lost is not None:
                    raise on_lost(limit) from None
                if kind is not CallKind.READ or attempt == 2:
                    raise unavailable("the connection to IB Gateway was lost during the request",
                                      self.endpoint) from None
                await self._session_over()
        raise RuntimeError("unreachable: the second attempt returns or raises")

    async def _session_over(self) -> None:
        """Let the disconnect be processed, so the retry waits for the next session, not the dead one."""
        if self._state is ConnectionState.CONNECTED and self._session_ended is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._session_ended.wait(), 1.0)

    async def _if_connected(self, operation: Operation[T], limit: float, cost: int) -> T:
        if self._state is not ConnectionState.CONNECTED or self._ib is None:
            raise unavailable("not connected to IB Gateway", self.endpoint)
        await asyncio.wait_for(self.pacing.admit(cost), limit)
        try:
            return await asyncio.wait_for(operation(self._ib), limit)
        finally:
            self.pacing.release(cost)

    def _on_throttle(self) -> None:
        self.pacing.stats.ib_async_stalls += 1

    async def _ready(self, kind: CallKind) -> IB:
        """Wait until the API is ready, under the rules of the call kind (see CallKind)."""
        first_use = not self._ever_connected
        if self._supervisor is None and self._state is ConnectionState.IDLE:
            self._supervisor = asyncio.ensure_future(self._supervise())
        seen = self._attempts_done
        while True:
            state = self._state
            if state is ConnectionState.CONNECTED and self._ib is not None:
                return self._ib
            if state is ConnectionState.CLOSED:
                raise self._shut_down()
            if state is ConnectionState.DEGRADED:
                raise unavailable(self._reason("IB Gateway has lost its connection to IB's servers"), self.endpoint)
            if kind is CallKind.ORDER and not first_use:
                raise unavailable(self._reason("not connected to IB Gateway; nothing was sent"), self.endpoint)
            if self._attempts_done > seen and state is not ConnectionState.CONNECTING:
                raise unavailable(self._reason("could not connect to IB Gateway"), self.endpoint)
            if state is ConnectionState.BACKOFF and self._nudge is not None:
                self._nudge.set()  # a caller is waiting: try now rather than after the backoff
            await cast(asyncio.Event, self._changed).wait()  # created in _setup, before any call

    # --- the state machine ----------------------------------------------------------------
    async def _supervise(self) -> None:
        """Connect, wait for the session to end, back off, repeat, until shut down."""
        loop = asyncio.get_running_loop()
        failures = 0
        while self._state is not ConnectionState.CLOSED:
            self._set_state(ConnectionState.CONNECTING)
            if await self._connect_once():
                started = loop.time()
                await cast(asyncio.Event, self._session_ended).wait()  # set by the successful connect
                if self._state is ConnectionState.CLOSED:
                    return
                stable = loop.time() - started >= self.backoff.stable_after
                failures = 0 if stable else failures + 1
                delay = 0.0 if stable else self.backoff.delay(failures - 1)
            else:
                delay = self.backoff.delay(failures)
                failures += 1
            self._set_state(ConnectionState.BACKOFF)
            nudge = cast(asyncio.Event, self._nudge)  # created in _setup
            nudge.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(nudge.wait(), delay)

    async def _connect_once(self) -> bool:
        ib = cast(IB, self._ib)  # created in _setup, before the supervisor starts
        self._sent_before += ib.client.conn.numMsgSent  # the counter restarts with each connection
        attempt = await connect_once(ib, self.endpoint, self.connect_timeout)
        with self._lock:
            self._attempts_done += 1
            self._failed_attempts += 0 if attempt.ok else 1
        if not attempt.ok:
            self._record(attempt.code, attempt.message)
            log.warning("IBKR connect to %s failed: %s", self.endpoint, attempt.message)
            return False
        reconnect = self._ever_connected
        with self._lock:
            self._ever_connected = True
            self._connections += 1
            self._server_version = ib.client.serverVersion()
            self._accounts = tuple(ib.managedAccounts())
            self._connected_since = datetime.now(UTC)
        self._session_ended = asyncio.Event()
        self._set_state(ConnectionState.CONNECTED)
        log.info("IBKR connected to %s, server version %s", self.endpoint, self._server_version)
        for trade in ib.trades():  # replay what the sync brought: fills made while we were away
            self._on_trade(trade)
        if reconnect:
            self._notify_reconnected()
        return True

    def _set_state(self, state: ConnectionState) -> None:
        with self._lock:
            if self._state is ConnectionState.CLOSED:
                return
            self._state = state
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    def _on_disconnected(self) -> None:
        if self._state in (ConnectionState.CONNECTED, ConnectionState.DEGRADED):
            if not self._closed:
                self._record(None, "the connection to IB Gateway was lost; reconnecting")
                log.warning("IBKR connection to %s lost", self.endpoint)
            self._set_state(ConnectionState.BACKOFF)
            if self._session_ended is not None:
                self._session_ended.set()

    def _on_error(self, req_id: int, code: int, message: str, _contract: Any) -> None:
        if code in codes.CONNECTION_LOST_CODES:
            self._record(code, f"IB Gateway lost its connection to IB's servers ({code}): {message}")
            if self._state is ConnectionState.CONNECTED:
                self._set_state(ConnectionState.DEGRADED)
                self._grace_task = asyncio.ensure_future(self._restore_or_reconnect())
        elif code in codes.CONNECTION_RESTORED_CODES:
            if self._state is ConnectionState.DEGRADED:
                log.info("IB Gateway connectivity restored (%s)", code)
                if self._grace_task is not None:
                    self._grace_task.cancel()
                self._set_state(ConnectionState.CONNECTED)
                self._notify_reconnected()
        elif req_id == -1 and code not in codes.NOT_A_PROBLEM_CODES | codes.CLIENT_ID_IN_USE_CODES:
            self._record(code, message)

    async def _restore_or_reconnect(self) -> None:
        """After a 1100, give the gateway `restore_grace` seconds to recover, then reconnect ourselves."""
        await asyncio.sleep(self.restore_grace)
        if self._state is ConnectionState.DEGRADED and self._ib is not None:
            log.warning("IB Gateway did not restore connectivity in %.0fs; reconnecting", self.restore_grace)
            self._ib.disconnect()

    def _on_trade(self, trade: Trade, *_more: Any) -> None:
        self.order_listeners.notify(trade)

    def _notify_reconnected(self) -> None:
        for listener in self.reconnect_listeners:
            self.dispatch(listener)

    async def _close_async(self) -> None:
        self._set_state(ConnectionState.CLOSED)
        if self._changed is not None:
            self._changed.set()
        for task in (self._supervisor, self._grace_task):
            if task is not None:
                task.cancel()
        if self._session_ended is not None:
            self._session_ended.set()
        if self._ib is not None and self._ib.client.isConnected():
            self._ib.disconnect()
        await asyncio.sleep(0)

    # --- errors ----------------------------------------------------------------------------
    def _record(self, code: int | None, message: str) -> None:
        with self._lock:
            self._last_error = LastError(code, message, datetime.now(UTC))

    def _reason(self, summary: str) -> str:
        last = self._last_error
        return f"{summary}: {last.message}" if last is not None else summary

    def _shut_down(self, _limit: float = 0.0) -> TradeError:
        return unavailable("the IBKR connection manager was shut down", self.endpoint)

    def _timed_out(self, limit: float, *, connecting: bool = False) -> TradeError:
        if connecting:
            return unavailable(self._reason(f"no connection to IB Gateway within {limit:g}s"), self.endpoint)
        return unavailable(f"IB Gateway did not answer within {limit:g}s", self.endpoint, timeout_seconds=limit)
