"""One client connection: handshake, request dispatch, subscriptions and pushes.

Output is buffered and written once per event-loop pass, which keeps the per-order cost
to a single socket write even when an order produces half a dozen messages.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import cast

from . import encode, listings, market_data, unsupported
from .accounts import Account
from .gateway import Gateway
from .instruments import ContractQuery, Instrument
from .subscriptions import Subscriptions, Values
from .wire import API_GREETING, FieldReader, frame, parse_version_range, split_frames

log = logging.getLogger("simulators.ib_gateway")

FARM_NOTICES = (
    (2104, "Market data farm connection is OK:usfarm"),
    (2106, "HMDS data farm connection is OK:ushmds"),
    (2158, "Sec-def data farm connection is OK:secdefnj"),
)
DUPLICATE_CLIENT_ID = "Unable to connect as the client id is already in use. Retry with a unique client id."


class Session(asyncio.Protocol):
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.greeted = False
        self.server_version = gateway.server_version
        self.client_id: int | None = None
        self.closed = False
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self.market_data_type = 1
        self.subs = Subscriptions(self.send)
        self.pnl_subscriptions = market_data.PnLSubscriptions()

    # -- transport -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.gw.connection_count += 1
        self.gw.open_sessions.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.gw.unregister(self)

    def send(self, fields: list[str]) -> None:
        if self.closed:
            return
        self._out.append(frame(fields))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.gw.want_flush(self)

    def flush(self) -> None:
        self._flush_scheduled = False
        if self._out and not self.closed and self.transport is not None:
            self.transport.write(b"".join(self._out))
        self._out.clear()

    def close(self) -> None:
        """Graceful close: queued messages go out first (the duplicate-client-id path needs this)."""
        self.flush()
        self.closed = True
        self.gw.unregister(self)
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once, discarding anything not yet written."""
        self._out.clear()
        self.closed = True
        self.gw.unregister(self)
        if self.transport is not None:
            self.transport.abort()

    # -- input -----------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.greeted and not self._greet():
            return
        for fields in split_frames(self.buffer):
            if self.closed:
                return
            try:
                self.handle(fields)
            except Exception:
                # A gateway survives a bad request and says so, so the client does not wait for a timeout.
                log.exception("failed to handle message from client %s: %s", self.client_id, fields[:3])
                self._error(unsupported.request_id(fields), unsupported.READ_FAILED,
                            f"Server error when reading an API client request: message {fields[0]}")

    def _greet(self) -> bool:
        if len(self.buffer) < 8:
            return False
        if self.buffer[:4] != API_GREETING:
            self.abort()
            return False
        length = int.from_bytes(self.buffer[4:8], "big")
        if len(self.buffer) < 8 + length:
            return False
        low, high = parse_version_range(self.buffer[8 : 8 + length].decode(errors="replace"))
        del self.buffer[: 8 + length]
        self.server_version = min(self.gw.server_version, high)
        if self.server_version < low:
            self.abort()
            return False
        self.greeted = True
        self.send([str(self.server_version), time.strftime("%Y%m%d %H:%M:%S UTC", time.gmtime())])
        return True

    def handle(self, fields: list[str]) -> None:
        msg_id = int(fields[0])
        if msg_id == 71:
            self.gw.record(int(fields[2]), msg_id, fields)
            self._start_api(fields)
            return
        self.gw.record(self.client_id if self.client_id is not None else -1, msg_id, fields)
        if self.client_id is None:
            return
        handler = _HANDLERS.get(msg_id)
        if handler is not None:
            handler(self, fields)
            return
        answer = unsupported.answer(msg_id, fields)
        if answer is not None:
            reply, req_id, text = answer
            if reply is not None:
                self.send(reply)
            else:
                self._error(req_id, unsupported.NOT_SUPPORTED, text)

    def _error(self, req_id: int, code: int, message: str) -> None:
        self.send(encode.error(self.server_version, req_id, code, message))

    def _start_api(self, fields: list[str]) -> None:
        if self.client_id is not None:
            return
        client_id = int(fields[2])
        if not self.gw.register(self, client_id):
            self._error(-1, 326, DUPLICATE_CLIENT_ID)
            self.close()
            return
        self.client_id = client_id
        self.send(["15", "1", ",".join(self.gw.broker.accounts)])
        self.send(["9", "1", str(self.gw.broker.next_order_id(client_id))])
        if self.gw.farm_notices:
            for code, text in FARM_NOTICES:
                self._error(-1, code, text)

    # -- requests --------------------------------------------------------------
    def _orders(self, fields: list[str], all_clients: bool) -> None:
        for order in self.gw.broker.orders:
            if not order.is_done and (all_clients or order.client_id == self.client_id):
                self.send(encode.open_order(order, self.server_version))
                self.send(encode.order_status(order))
        self.send(["53", "1"])

    def _open_orders(self, fields: list[str]) -> None:
        self._orders(fields, all_clients=False)

    def _all_open_orders(self, fields: list[str]) -> None:
        self._orders(fields, all_clients=True)

    def _completed_orders(self, fields: list[str]) -> None:
        for order in self.gw.broker.orders:
            if order.is_done:
                self.send(encode.completed_order(order, self.server_version))
        self.send(["102"])

    def _executions(self, fields: list[str]) -> None:
        r = FieldReader(fields, 2)
        req_id, client_id, account, since = r.integer(), r.integer(), r.text(), r.text()
        symbol, sec_type, exchange, side = r.text().upper(), r.text().upper(), r.text().upper(), r.text().upper()
        since_text = since.replace("-", " ")[:17]
        for e in self.gw.broker.executions:
            o, inst = e.order, e.order.instrument
            if (
                (client_id and o.client_id != client_id)
                or (account and o.account != account)
                or (symbol and inst.symbol != symbol)
                or (sec_type and inst.sec_type != sec_type)
                or (exchange and exchange not in (inst.exec_exchange, inst.exchange))
                or (side and side[:1] != o.action[:1])
                or (since_text and encode.ib_time(e.time)[:17] < since_text)
            ):
                continue
            self.send(encode.exec_details(self.server_version, req_id, e))
            self.send(encode.commission_report(e))
        self.send(["55", "1", str(req_id)])

    def _req_ids(self, fields: list[str]) -> None:
        self.send(["9", "1", str(self.gw.broker.next_order_id(self.client_id or 0))])

    def _contract_details(self, fields: list[str]) -> None:
        r = FieldReader(fields, 2)
        req_id = r.integer()
        query = ContractQuery.read(r)
        continuous = query.sec_type.upper() == listings.CONTINUOUS
        book = self.gw.broker.book
        matches = listings.continuous_matches(book, query) if continuous else book.match(query)
        if not matches:
            self._error(req_id, 200, "No security definition has been found for the request")
            return
        for inst in matches:
            wanted = query.exchange.upper()
            exchange = wanted if wanted in inst.valid_exchanges else inst.exchange
            self.send(encode.contract_data(self.server_version, req_id, inst, exchange,
                                           listings.CONTINUOUS if continuous else inst.sec_type))
        self.send(["52", "1", str(req_id)])

    def _matching_symbols(self, fields: list[str]) -> None:
        """As the gateway does: the first letters of a symbol, or (two letters or more) a word of the security's
        name; the exact symbol first, then symbol prefixes, then names."""
        req_id, pattern = int(fields[1]), fields[2].strip().upper()
        ranked: dict[tuple[str, str], tuple[int, Instrument]] = {}
        for inst in self.gw.broker.book.instruments:
            key = (inst.symbol, inst.sec_type)
            if inst.sec_type == "OPT" or key in ranked or not pattern:
                continue
            words = inst.long_name.upper().replace("-", " ").replace(".", " ").split()
            if inst.symbol == pattern:
                ranked[key] = (0, inst)
            elif inst.symbol.startswith(pattern):
                ranked[key] = (1, inst)
            elif len(pattern) >= 2 and any(w.startswith(pattern) for w in words):
                ranked[key] = (2, inst)
        found = [inst for _rank, inst in sorted(ranked.values(), key=lambda r: r[0])]
        self.send(encode.symbol_samples(self.server_version, req_id, found[:16]))

    def _market_data(self, fields: list[str]) -> None:
        r = FieldReader(fields, 2)
        req_id = r.integer()
        query = ContractQuery.read(r)
        if query.sec_type.upper() == "BAG":
            r.skip(r.integer() * 4)
        if r.text() == "1":
            r.skip(3)
        r.skip(1)  # genericTickList
        snapshot = r.flag()
        matches = self.gw.broker.book.match(query)
        if len(matches) != 1:
            self._error(req_id, 200, "No security definition has been found for the request")
            return
        inst = matches[0]
        data_type = market_data.answer_type(self, req_id, inst)
        if data_type is None:
            return  # refused (no entitlement): the error is sent
        self.send(["58", "1", str(req_id), str(data_type)])
        self._ticks(req_id, inst)
        greeks = market_data.greeks_tick(req_id, inst, data_type, self.gw.broker.book.today)
        if greeks is not None:
            self.send(greeks)
        if snapshot:
            self.send(["57", "1", str(req_id)])
        else:
            self.subs.streams[req_id] = inst

    def _ticks(self, req_id: int, inst: Instrument) -> None:
        for tick in encode.tick_prices(req_id, inst, delayed=self.market_data_type in (3, 4)):
            self.send(tick)

    def _cancel_market_data(self, fields: list[str]) -> None:
        self.subs.streams.pop(int(fields[2]), None)

    def _market_data_type(self, fields: list[str]) -> None:
        self.market_data_type = int(fields[2])

    def _current_time(self, fields: list[str]) -> None:
        self.send(["49", "1", str(int(time.time()))])

    def _managed_accounts(self, fields: list[str]) -> None:
        self.send(["15", "1", ",".join(self.gw.broker.accounts)])

    def _accounts_for(self, account_id: str) -> list[Account]:
        accounts = self.gw.broker.accounts
        if account_id in ("", "All"):
            return list(accounts.values())
        return [accounts[account_id]] if account_id in accounts else []

    def _positions(self, fields: list[str]) -> None:
        self.subs.start_positions(self._accounts_for(""))

    def _cancel_positions(self, fields: list[str]) -> None:
        self.subs.positions = False

    def _account_updates(self, fields: list[str]) -> None:
        subscribe, account_id = fields[2] == "1", fields[3]
        if not subscribe:
            self.subs.account_updates = None
            return
        accounts = self._accounts_for(account_id)[:1]
        if accounts:
            self.subs.start_account_updates(accounts[0])
        self.send(["54", "1", accounts[0].account_id if accounts else account_id])

    def _account_updates_multi(self, fields: list[str]) -> None:
        req_id, account_id = int(fields[2]), fields[3]
        self.subs.start_multi(req_id, account_id, self._accounts_for(account_id))

    def _cancel_account_updates_multi(self, fields: list[str]) -> None:
        self.subs.cancel_multi(int(fields[2]))

    def _positions_multi(self, fields: list[str]) -> None:
        req_id, account_id = int(fields[2]), fields[3]
        self.subs.start_positions_multi(req_id, account_id, self._accounts_for(account_id))

    def _cancel_positions_multi(self, fields: list[str]) -> None:
        self.subs.positions_multi.pop(int(fields[2]), None)

    def _account_summary(self, fields: list[str]) -> None:
        self.subs.start_summary(int(fields[2]), fields[4], self._accounts_for(""))

    def _cancel_account_summary(self, fields: list[str]) -> None:
        self.subs.cancel_summary(int(fields[2]))

    def _place_order(self, fields: list[str]) -> None:
        self.gw.place_order(self, fields)

    def _cancel_order(self, fields: list[str]) -> None:
        self.gw.cancel_order(self, int(fields[2]))

    def _global_cancel(self, fields: list[str]) -> None:
        self.gw.global_cancel()

    # -- pushes from the gateway -------------------------------------------------
    def push_quote(self, inst: Instrument) -> None:
        self.subs.push_quote(inst, delayed=self.market_data_type in (3, 4))

    def push_positions(self, account: Account, quantity_changed: set[int], marks_changed: set[int]) -> None:
        self.subs.push_positions(account, quantity_changed, marks_changed)

    def push_values(self, account: Account, values: Values) -> None:
        self.subs.push_values(account, values)


_HANDLERS: dict[int, Callable[[Session, list[str]], None]] = {
    1: Session._market_data,
    2: Session._cancel_market_data,
    3: Session._place_order,
    4: Session._cancel_order,
    5: Session._open_orders,
    6: Session._account_updates,
    7: Session._executions,
    8: Session._req_ids,
    9: Session._contract_details,
    16: Session._all_open_orders,
    17: Session._managed_accounts,
    49: Session._current_time,
    58: Session._global_cancel,
    59: Session._market_data_type,
    61: Session._positions,
    62: Session._account_summary,
    63: Session._cancel_account_summary,
    64: Session._cancel_positions,
    74: Session._positions_multi,
    75: Session._cancel_positions_multi,
    76: Session._account_updates_multi,
    77: Session._cancel_account_updates_multi,
    81: Session._matching_symbols,
    99: Session._completed_orders,
}
_HANDLERS.update(market_data.HANDLERS)
