"""Balances the loop thread publishes, so the execute-time holdings check reads one without a hop to it.

The account summary is subscribed once per connection and ib_async keeps its values current on the
loop thread. Asking that thread for them cost an IBKR execute ~0.45 ms (a round trip between
threads, measured paced, bench/README.md). Here the loop thread itself rebuilds every account's
balance after a batch of gateway messages changed a summary value, and publishes them all as one
immutable mapping: a single reference swap, so a reader on any thread sees one whole, consistent
publication. Only the loop thread touches ib_async's state; readers touch only what was published.

A lost connection clears the board (on the loop thread, as the disconnect is processed), so a read
then goes to the loop thread and meets the connection's own errors and reconnects. What a read gets
is the latest summary this process has processed, the same values the loop thread would have
answered with: the gateway's pushes, and the refresh requested after each trade.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ib_async import IB, AccountValue

from brokers.ibkr.portfolio import balance_from
from brokers.records import AccountBalance

_EMPTY: Mapping[str, AccountBalance] = MappingProxyType({})


class BalanceBoard:
    def __init__(self) -> None:
        self._published = _EMPTY
        self._changed = False
        self._ib: IB | None = None

    def balance(self, account_id: str) -> AccountBalance | None:
        """The account's latest published balance, from any thread; None before its summary arrived (or
        after a disconnect): then ask the loop thread."""
        return self._published.get(account_id)

    def attach(self, ib: IB) -> None:
        """Follow `ib`'s account summary from now on (loop thread; once per IB, later calls do nothing)."""
        if self._ib is ib:
            return
        self._ib = ib
        ib.accountSummaryEvent += self._summary_changed
        ib.updateEvent += self._publish_if_changed  # after each batch of messages ib_async has processed
        ib.disconnectedEvent += self._clear
        self._changed = True
        self._publish_if_changed()

    def _summary_changed(self, _value: AccountValue) -> None:
        self._changed = True

    def _publish_if_changed(self) -> None:
        ib = self._ib
        if not self._changed or ib is None or not ib.isConnected():
            return
        self._changed = False
        by_account: dict[str, list[AccountValue]] = {}
        for value in ib.wrapper.acctSummary.values():
            by_account.setdefault(value.account, []).append(value)
        self._published = MappingProxyType({a: balance_from(values, a) for a, values in by_account.items()})

    def _clear(self) -> None:
        self._published = _EMPTY
        self._changed = True  # the next session's summary is published as it arrives
