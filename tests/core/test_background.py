"""The service's one background worker: refreshes coalesce, reconciliations never overlap, close() ends it.

Real PostgreSQL and the service; the in-memory broker, with gates that hold a broker call open
so that "while one runs" is a fact of the test, not a race.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal

import pytest

from brokers.records import BrokerOrder, OrderLookup
from services.reconcile_schedule import AFTER_RECONNECT, IN_FLIGHT_CHECK
from services.trade_execution import TradeExecutionService
from tests.core.conftest import ServiceFactory
from tests.ibkr.conftest import wait_until
from tests.support.memory_broker import MemoryBroker, lose_answer


class GatedBroker(MemoryBroker):
    """Counts refreshes and order lookups; a lookup waits for `release` and records how many overlapped."""

    def __init__(self) -> None:
        super().__init__()
        self.add_account("DU111", cash="100000", AAPL="50")
        self.refreshes = 0
        self.lookups = 0
        self.overlapping = 0
        self.most_overlapping = 0
        self.release = threading.Event()
        self._count = threading.Lock()

    def refresh_after_trade(self, account_id: str) -> None:
        with self._count:
            self.refreshes += 1

    def find_order_by_ref(self, lookup: OrderLookup) -> BrokerOrder | None:
        with self._count:
            self.lookups += 1
            self.overlapping += 1
            self.most_overlapping = max(self.most_overlapping, self.overlapping)
        try:
            self.release.wait(10)
            return super().find_order_by_ref(lookup)
        finally:
            with self._count:
                self.overlapping -= 1


@pytest.fixture(autouse=True)
def earlier_threads() -> Iterator[None]:
    """Workers of services other tests left open are not this test's: count only threads started since."""
    EARLIER.clear()
    EARLIER.update(threading.enumerate())
    yield


EARLIER: set[threading.Thread] = set()


def background_threads() -> list[str]:
    return [t.name for t in threading.enumerate()
            if t.name == "tradeexec-background" and t.is_alive() and t not in EARLIER]


def unknown_order(service: TradeExecutionService, broker: MemoryBroker) -> str:
    broker.place_fault = lose_answer
    order = service.execute_trade(service.preview_trade("DU111", "AAPL", "BUY", 1).preview_id)
    broker.place_fault = None
    assert order.status == "UNKNOWN"
    return order.order_id


def hold_worker(service: TradeExecutionService) -> threading.Event:
    """Occupy the worker with a job that waits, so what is asked meanwhile queues behind it."""
    held, release = threading.Event(), threading.Event()

    def job() -> None:
        held.set()
        release.wait(10)

    service.background.submit("test:hold", job)
    assert held.wait(5)
    return release


def test_refreshes_asked_for_while_one_waits_are_one_refresh_and_close_ends_the_worker(
    make_service: ServiceFactory,
) -> None:
    broker = GatedBroker()
    service = make_service(adapters=[broker])
    release = hold_worker(service)
    for _ in range(3):
        order = service.execute_trade(service.preview_trade("DU111", "AAPL", "BUY", 1).preview_id)
        assert order.status == "EXECUTED" and order.filled_quantity == Decimal(1)
    assert broker.refreshes == 0  # off the caller's path: every execute answered before any refresh ran
    release.set()
    wait_until(lambda: service.background.runs.get("refresh:ibkr:DU111"), what="the refresh after trade")
    assert broker.refreshes == 1 and service.background.runs["refresh:ibkr:DU111"] == 1
    assert background_threads() == ["tradeexec-background"]  # one worker, whatever was asked of it

    service.close()
    assert background_threads() == []
    assert service.background.submit("refresh:ibkr:DU111", lambda: None) is False  # closed: nothing new starts


def test_two_reconnect_requests_before_the_run_starts_are_one_reconciliation(make_service: ServiceFactory) -> None:
    broker = GatedBroker()
    service = make_service(adapters=[broker])
    service.start()
    order_id = unknown_order(service, broker)
    release = hold_worker(service)
    requests = [threading.Thread(target=service.reconcile_schedule.request_run) for _ in range(2)]
    for thread in requests:
        thread.start()
    for thread in requests:
        thread.join()
    broker.release.set()
    release.set()
    wait_until(lambda: service.background.runs.get(AFTER_RECONNECT), what="the reconciliation after reconnect")
    assert service.background.runs[AFTER_RECONNECT] == 1 and broker.lookups == 1
    assert not service.background.scheduled(AFTER_RECONNECT)  # nothing left queued to run it again
    assert service.get_order_status(order_id).status == "EXECUTED"
    service.close()


def test_a_reconciliation_asked_for_while_one_runs_is_skipped_not_overlapped(make_service: ServiceFactory) -> None:
    broker = GatedBroker()
    service = make_service(adapters=[broker], RECONCILE_IN_FLIGHT_INTERVAL_SECONDS=0.05,
                           RECONCILE_IN_FLIGHT_THRESHOLD_SECONDS=0, RECONCILE_POLL_INTERVAL_SECONDS=0)
    service.start()
    order_id = unknown_order(service, broker)
    reports: list[object] = []
    explicit = threading.Thread(target=lambda: reports.append(service.reconcile()))
    explicit.start()
    wait_until(lambda: broker.lookups == 1, what="the explicit reconciliation to reach the broker")
    service.start_continuous_reconciliation()  # the in-flight check now comes due every 50 ms
    wait_until(lambda: service.background.runs.get(IN_FLIGHT_CHECK, 0) >= 3, what="three in-flight checks")
    assert broker.lookups == 1  # each check found the run in progress and was skipped (busy)
    broker.release.set()
    explicit.join(10)
    assert [getattr(r, "settled", None) for r in reports] == [{order_id: "EXECUTED"}]
    assert broker.most_overlapping == 1
    service.close()
    assert background_threads() == []
