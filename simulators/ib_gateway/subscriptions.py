"""A connection's standing subscriptions and what gets pushed to them.

Account values are diffed per subscription, so a fill sends only the figures it changed:
ib_async decodes every message, and a flood of unchanged values would slow down the very
client being measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from . import encode
from .accounts import LEDGER_TAGS, Account
from .instruments import Instrument

Values = list[tuple[str, str, str]]
Send = Callable[[list[str]], None]


def summary_values(values: Values, tags: str) -> Values:
    """Filter account values to a reqAccountSummary's tags; ``$LEDGER`` adds the per-currency ones."""
    wanted = {t.strip() for t in tags.split(",") if t.strip()}
    ledger = any(t.startswith("$LEDGER") for t in wanted)
    result = []
    for tag, value, currency in values:
        if currency == "BASE":
            continue
        if (tag in wanted and tag not in LEDGER_TAGS) or (ledger and tag in LEDGER_TAGS):
            result.append((tag, value, currency))
        elif tag == "Leverage-S" and "Leverage" in wanted:
            result.append(("Leverage", value, currency))
    return result


class Subscriptions:
    def __init__(self, send: Send) -> None:
        self.send = send
        self.positions = False
        self.account_updates: str | None = None
        self.account_multi: dict[int, str] = {}
        self.positions_multi: dict[int, str] = {}
        self.summaries: dict[int, str] = {}
        self.streams: dict[int, Instrument] = {}
        self._sent: dict[tuple[str, int, str, str, str], str] = {}

    def _changed(self, channel: tuple[str, int], account_id: str, values: Values) -> Values:
        changed = []
        for tag, value, currency in values:
            key = (*channel, account_id, tag, currency)
            if self._sent.get(key) != value:
                self._sent[key] = value
                changed.append((tag, value, currency))
        return changed

    def _forget(self, kind: str, req_id: int) -> None:
        for key in [k for k in self._sent if k[0] == kind and k[1] == req_id]:
            del self._sent[key]

    # -- account updates (reqAccountUpdates) -------------------------------------
    def start_account_updates(self, account: Account) -> None:
        self.account_updates = account.account_id
        self._forget("U", 0)
        self._send_values(account, account.values())
        self._send_portfolio(account, account.positions)

    def _send_values(self, account: Account, values: Values) -> None:
        for tag, value, currency in self._changed(("U", 0), account.account_id, values):
            self.send(["6", "2", tag, value, currency, account.account_id])

    def _send_portfolio(self, account: Account, con_ids: Iterable[int]) -> None:
        for con_id in con_ids:
            self.send(encode.portfolio(account.account_id, account.positions[con_id]))
        self.send(["8", "1", time.strftime("%H:%M", time.gmtime())])

    # -- account updates multi --------------------------------------------------
    def start_multi(self, req_id: int, wanted: str, accounts: list[Account]) -> None:
        self.account_multi[req_id] = wanted
        for account in accounts:
            self._send_multi(req_id, account, account.values())
        self.send(["74", "1", str(req_id)])

    def _send_multi(self, req_id: int, account: Account, values: Values) -> None:
        for tag, value, currency in self._changed(("M", req_id), account.account_id, values):
            self.send(["73", "1", str(req_id), account.account_id, "", tag, value, currency])

    def cancel_multi(self, req_id: int) -> None:
        self.account_multi.pop(req_id, None)
        self._forget("M", req_id)

    # -- account summary ----------------------------------------------------------
    def start_summary(self, req_id: int, tags: str, accounts: list[Account]) -> None:
        self.summaries[req_id] = tags
        for account in accounts:
            self._send_summary(req_id, account, account.values())
        self.send(["64", "1", str(req_id)])

    def _send_summary(self, req_id: int, account: Account, values: Values) -> bool:
        changed = self._changed(("S", req_id), account.account_id, summary_values(values, self.summaries[req_id]))
        for tag, value, currency in changed:
            self.send(["63", "1", str(req_id), account.account_id, tag, value, currency])
        return bool(changed)

    def cancel_summary(self, req_id: int) -> None:
        self.summaries.pop(req_id, None)
        self._forget("S", req_id)

    # -- positions ----------------------------------------------------------------
    def start_positions(self, accounts: list[Account]) -> None:
        self.positions = True
        for account in accounts:
            for pos in account.positions.values():
                self.send(encode.position(account.account_id, pos))
        self.send(["62", "1"])

    def start_positions_multi(self, req_id: int, wanted: str, accounts: list[Account]) -> None:
        self.positions_multi[req_id] = wanted
        for account in accounts:
            for pos in account.positions.values():
                self.send(encode.position_multi(req_id, account.account_id, pos))
        self.send(["72", "1", str(req_id)])

    # -- pushes ---------------------------------------------------------------------
    def push_positions(self, account: Account, quantity_changed: set[int], marks_changed: set[int]) -> None:
        account_id = account.account_id
        if self.positions:
            for con_id in quantity_changed:
                self.send(encode.position(account_id, account.positions[con_id]))
        for req_id, wanted in self.positions_multi.items():
            if wanted in ("", "All", account_id):
                for con_id in quantity_changed:
                    self.send(encode.position_multi(req_id, account_id, account.positions[con_id]))
        if self.account_updates == account_id:
            self._send_portfolio(account, quantity_changed | marks_changed)

    def push_values(self, account: Account, values: Values) -> None:
        account_id = account.account_id
        if self.account_updates == account_id:
            self._send_values(account, values)
        for req_id, wanted in self.account_multi.items():
            if wanted in ("", "All", account_id):
                self._send_multi(req_id, account, values)
        for req_id in self.summaries:
            if self._send_summary(req_id, account, values):
                self.send(["64", "1", str(req_id)])

    def push_quote(self, inst: Instrument, delayed: bool) -> None:
        for req_id, streamed in self.streams.items():
            if streamed is inst:
                for tick in encode.tick_prices(req_id, inst, delayed):
                    self.send(tick)
