"""Which adapter owns an account. Exactly one must: none or two is an error, never a guess."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from brokers.base import BrokerAdapter
from brokers.errors import ErrorCode, TradeError
from brokers.models import BrokerProvider

log = logging.getLogger(__name__)


class AdapterRouter:
    def __init__(self, adapters: Sequence[BrokerAdapter]) -> None:
        self.adapters = list(adapters)
        providers = [a.provider for a in self.adapters]
        if len(set(providers)) != len(providers):
            raise ValueError(f"two adapters for the same provider: {providers}")

    def for_provider(self, provider: BrokerProvider | str) -> BrokerAdapter:
        for adapter in self.adapters:
            if adapter.provider == provider:
                return adapter
        raise TradeError(
            ErrorCode.BROKER_UNAVAILABLE,
            f"broker {provider} is not configured (set BROKERS)",
            {"provider": str(provider)},
        )

    def for_account(self, account_id: str) -> BrokerAdapter:
        owners: list[BrokerAdapter] = []
        unreachable: list[dict[str, str]] = []
        for adapter in self.adapters:
            try:
                if adapter.owns_account(account_id):
                    owners.append(adapter)
            except TradeError as exc:
                log.warning("%s could not tell whether it owns an account: %s", adapter.provider, exc.message)
                unreachable.append(
                    {"provider": adapter.provider.value, "error_code": exc.code.value, "message": exc.message}
                )
        if len(owners) == 1:
            return owners[0]
        if len(owners) > 1:
            raise TradeError(
                ErrorCode.AMBIGUOUS_ACCOUNT,
                f"account {account_id} is claimed by more than one broker",
                {"account_id": account_id, "providers": [a.provider.value for a in owners]},
            )
        if unreachable:
            reasons = "; ".join(f"{u['provider']}: {u['message']}" for u in unreachable)
            raise TradeError(
                ErrorCode.BROKER_UNAVAILABLE,
                f"account {account_id} was not found and some brokers could not be asked ({reasons})",
                {"account_id": account_id, "unreachable": unreachable},
            )
        raise TradeError(
            ErrorCode.ACCOUNT_NOT_FOUND,
            f"account {account_id} is not a tradeable account of any configured broker",
            {"account_id": account_id, "configured": [a.provider.value for a in self.adapters]},
        )
