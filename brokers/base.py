"""The one interface the service routes through; adapters never import each other."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from brokers.errors import ErrorCode, NothingSent, TradeError
from brokers.instruments import Instrument
from brokers.models import BrokerProvider, OrderRequest
from brokers.order_legs import LegOutcome, OrderSetLeg
from brokers.records import (
    AccountBalance,
    BrokerAccount,
    BrokerCapabilities,
    BrokerOrder,
    BrokerPreview,
    OrderLookup,
    OrderToPlace,
    Position,
    Quote,
    SymbolMatch,
)

OrderUpdateHandler = Callable[[BrokerProvider, BrokerOrder], None]
AccountSnapshot = tuple[AccountBalance, list[Position]]


class BrokerAdapter(ABC):
    """A broker as the service sees it: synchronous, Decimal, common statuses.

    Errors are `TradeError`s. A failed `place_order` raises exactly one of three types, and
    the service records the order by the type, never by the code:
    - `BrokerRefused`: the broker answered and refused; no order exists (row REJECTED);
    - `NothingSent`: nothing reached the broker; no order can exist (row FAILED);
    - `OrderOutcomeUnknown`: the order may exist (row UNKNOWN; reconciliation settles it).
    Any other exception from `place_order` is treated as `OrderOutcomeUnknown`: when in
    doubt, the order may exist. A placement answered with status REJECTED is a refusal too.
    """

    provider: BrokerProvider
    capabilities: BrokerCapabilities

    @abstractmethod
    def owns_account(self, account_id: str) -> bool: ...
    @abstractmethod
    def list_accounts(self) -> list[BrokerAccount]: ...
    @abstractmethod
    def search_symbol(self, account_id: str, ticker: str) -> list[SymbolMatch]: ...
    @abstractmethod
    def get_quote(self, account_id: str, ticker: str, instrument: Instrument | None = None) -> Quote:
        """`instrument`: the listing or derivative named by get_quote's instrument arguments (None: the
        ticker alone says what to quote)."""
        ...
    @abstractmethod
    def get_account_balance(self, account_id: str) -> AccountBalance: ...
    @abstractmethod
    def get_positions(self, account_id: str) -> list[Position]: ...
    @abstractmethod
    def preview_order(self, order: OrderRequest) -> BrokerPreview: ...
    @abstractmethod
    def place_order(self, account_id: str, order: OrderToPlace, client_order_ref: str) -> BrokerOrder: ...
    @abstractmethod
    def get_orders(self, account_id: str, state: str = "all", days: int = 30) -> list[BrokerOrder]: ...
    @abstractmethod
    def get_order(self, account_id: str, brokerage_order_id: str) -> BrokerOrder: ...
    @abstractmethod
    def cancel_order(self, account_id: str, brokerage_order_id: str) -> BrokerOrder: ...
    @abstractmethod
    def find_order_by_ref(self, lookup: OrderLookup) -> BrokerOrder | None: ...

    def modify_order(
        self, account_id: str, brokerage_order_id: str, order: OrderToPlace, client_order_ref: str
    ) -> BrokerOrder:
        """Change a working order to `order`'s terms; raises like `place_order` (the three outcome types).

        Only adapters whose `capabilities.modify_orders` is true implement it."""
        raise NothingSent.of(TradeError(ErrorCode.UNSUPPORTED_ORDER,
                                        f"{self.provider.value} orders cannot be modified in place"))

    def place_order_set(
        self, account_id: str, legs: list[OrderSetLeg], between: Callable[[str], None]
    ) -> list[LegOutcome]:
        """Place a bracket's legs, each once (capability `brackets`); `between(point)` runs on the caller's thread
        after the entry was sent and before its children are (the crash tests' checkpoint). Adapters without
        the capability never get here: the preview refused the order already."""
        raise NothingSent(f"{self.provider.value} does not place order sets; nothing was sent",
                          code=ErrorCode.UNSUPPORTED_ORDER)

    def refresh_after_trade(self, account_id: str) -> None:  # noqa: B027 - optional hook
        """Ask the broker to refresh cached holdings; a no-op where nothing is cached."""

    def set_order_update_handler(self, handler: OrderUpdateHandler | None) -> None:  # noqa: B027
        """Receive order updates pushed between calls (IBKR streams them; polling brokers do not)."""

    def set_reconnect_handler(self, handler: Callable[[], None] | None) -> None:  # noqa: B027
        """Called after the adapter re-establishes a lost connection, so the service can reconcile."""

    def account_snapshot(self, account_id: str) -> AccountSnapshot:
        """Balance and positions together, for a preview's checks; a broker whose balance already reads the
        positions answers both from one read."""
        return self.get_account_balance(account_id), self.get_positions(account_id)

    def preview_with_snapshot(self, order: OrderRequest) -> tuple[BrokerPreview, Callable[[], AccountSnapshot]]:
        """The preview, and the account snapshot its checks read, as a call: checks that need only the preview
        still refuse before a failed read is raised. Adapters with I/O send the reads alongside the preview and
        the call waits for them; a failed preview discards them. Here: one after the other."""
        preview = self.preview_order(order)
        return preview, lambda: self.account_snapshot(order.account_id)

    def account(self, account_id: str) -> BrokerAccount | None:
        """One account as listed (for its label); a broker that caches its list answers from the cache."""
        return next((a for a in self.list_accounts() if a.account_id == account_id), None)

    def is_paper_account(self, account_id: str) -> bool:
        return any(a.is_paper for a in self.list_accounts() if a.account_id == account_id)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the service calls it on shutdown."""
