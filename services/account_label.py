"""How a summary or a confirmation prompt names an account: the way the human knows it.

"Robinhood Individual (LIVE, ****0001)": the broker and account name, PAPER or LIVE in capitals,
and the last four characters of the account number, never the whole number or an internal id.
"""

from __future__ import annotations

import logging

from brokers.base import BrokerAdapter
from brokers.errors import TradeError
from brokers.records import BrokerAccount

log = logging.getLogger(__name__)


def label_of(account: BrokerAccount) -> str:
    name = (account.name or "").strip() or f"{account.provider.value} account"
    institution = (account.institution or "").strip()
    if institution and institution.lower() not in name.lower() and account.provider.value.lower() not in name.lower():
        name = f"{institution} {name}"
    number = (account.number or account.account_id).strip()
    mode = "PAPER" if account.is_paper else "LIVE"
    return f"{name} ({mode}, ****{number[-4:]})"


def account_label(adapter: BrokerAdapter, account_id: str) -> str | None:
    """Best effort: a broker that cannot list its accounts now leaves the summary with the account id."""
    try:
        account = adapter.account(account_id)
    except TradeError as exc:
        log.info("no account label for a preview: %s", exc.code.value)
        return None
    return label_of(account) if account is not None else None
