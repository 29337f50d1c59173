"""Balances and positions the loop thread publishes, so the execute-time holdings check reads them without
a hop to that thread.

The account summary and the positions are subscriptions ib_async keeps current on the loop thread.
Asking that thread for them cost an IBKR execute ~0.45 ms (a round trip between threads, measured
paced, bench/README.md). Here the loop thread itself rebuilds every account's balance and positions
after a batch of gateway messages changed them, and publishes all of it as one immutable snapshot: a
single reference swap, so a reader on any thread sees one whole, consistent publication. Only the
loop thread touches ib_async's state; readers touch only what was published.

A lost connection clears the board (on the loop thread, as the disconnect is processed), so a read
then goes to the loop thread and meets the connection's own errors and reconnects. What a read gets
is the latest this process has processed, the values the loop thread would have answered with: the
gateway's pushes, and the summary refresh requested after each trade.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ib_async import IB, AccountValue

from brokers.ibkr.portfolio import balance_from, positions
from brokers.records import AccountBalance, Position

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Snapshot:
    balances: Mapping[str, AccountBalance] = field(default_factory=lambda: MappingProxyType({}))
    positions: Mapping[str, tuple[Position, ...]] = field(default_factory=lambda: MappingProxyType({}))


class AccountBoard:
    def __init__(self) -> None:
        self._published = _Snapshot()
        self._changed = False
        self._ib: IB | None = None

    def balance(self, account_id: str) -> AccountBalance | None:
        """The account's latest published balance, from any thread; None before its summary arrived (or
        after a disconnect): then ask the loop thread."""
        return self._published.balances.get(account_id)

    def positions(self, account_id: str) -> list[Position] | None:
        """The account's latest published positions, from any thread; None when not published (as above)."""
        held = self._published.positions.get(account_id)
        return None if held is None else list(held)

    def attach(self, ib: IB) -> None:
        """Follow `ib`'s summary and positions from now on (loop thread; once per IB, later calls do nothing)."""
        if self._ib is ib:
            return
        self._ib = ib
        for changes in (ib.accountSummaryEvent, ib.positionEvent, ib.updatePortfolioEvent):
            changes.connect(self._mark_changed)
        ib.updateEvent += self._publish_if_changed  # after each batch of messages ib_async has processed
        ib.disconnectedEvent += self._clear
        self._changed = True
        self._publish_if_changed()

    def close(self) -> None:
        """Stop publishing (any thread). ib_async's events hold this board weakly: its handlers go with it."""
        self._ib = None
        self._published = _Snapshot()

    def _mark_changed(self, *_what: Any) -> None:
        self._changed = True

    def _publish_if_changed(self) -> None:
        ib = self._ib
        if not self._changed or ib is None or not ib.isConnected():
            return
        self._changed = False
        summary: dict[str, list[AccountValue]] = {}
        for value in ib.wrapper.acctSummary.values():
            summary.setdefault(value.account, []).append(value)
        try:
            self._published = _Snapshot(
                MappingProxyType({account: balance_from(values, account) for account, values in summary.items()}),
                MappingProxyType({account: tuple(positions(ib, account)) for account in ib.managedAccounts()}),
            )
        except Exception:  # never keep serving the last snapshot: readers go to the loop thread and its errors
            log.exception("could not publish the IBKR account board; reads go to the loop thread")
            self._published = _Snapshot()  # tried again at the next change, not at every message

    def _clear(self) -> None:
        self._published = _Snapshot()
        self._changed = True  # the next session's values are published as they arrive
