"""The one status table: all 20 SnapTrade statuses, each to a common status."""

from __future__ import annotations

from decimal import Decimal

import pytest
from snaptrade_client.model.account_order_record_status import AccountOrderRecordStatus

from brokers.models import ACTIVE_STATUSES, FINAL_STATUSES, OrderStatus
from brokers.snaptrade.status import STATUS_TABLE, common_status
from simulators.snaptrade import ORDER_STATUSES

SDK_STATUSES = set(getattr(AccountOrderRecordStatus.MetaOapg, "enum_value_to_name"))  # noqa: B009 - untyped in stubs


def test_the_table_covers_exactly_the_sdk_enum() -> None:
    assert len(SDK_STATUSES) == 20
    assert set(STATUS_TABLE) == SDK_STATUSES == set(ORDER_STATUSES)


def test_every_status_maps_to_a_broker_reported_common_status() -> None:
    assert set(STATUS_TABLE.values()) <= (ACTIVE_STATUSES | FINAL_STATUSES) - {OrderStatus.SIMULATED}
    assert set(STATUS_TABLE.values()) == {
        OrderStatus.PENDING, OrderStatus.ACCEPTED, OrderStatus.PARTIAL, OrderStatus.EXECUTED,
        OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.FAILED, OrderStatus.EXPIRED,
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("EXECUTED", OrderStatus.EXECUTED), ("PARTIAL", OrderStatus.PARTIAL), ("ACCEPTED", OrderStatus.ACCEPTED),
        ("PENDING", OrderStatus.PENDING), ("CANCELED", OrderStatus.CANCELED),
        ("PARTIAL_CANCELED", OrderStatus.CANCELED), ("REJECTED", OrderStatus.REJECTED),
        ("FAILED", OrderStatus.FAILED), ("EXPIRED", OrderStatus.EXPIRED), ("CANCEL_PENDING", OrderStatus.ACCEPTED),
        ("QUEUED", OrderStatus.PENDING), ("TRIGGERED", OrderStatus.ACCEPTED), ("NONE", OrderStatus.PENDING),
        ("executed", OrderStatus.EXECUTED),
    ],
)
def test_examples(raw: str, expected: OrderStatus) -> None:
    assert common_status(raw) is expected


def test_a_working_order_with_fills_is_partial_and_a_final_one_keeps_its_status() -> None:
    assert common_status("ACCEPTED", Decimal("3")) is OrderStatus.PARTIAL
    assert common_status("CANCEL_PENDING", Decimal("3")) is OrderStatus.PARTIAL
    assert common_status("PARTIAL_CANCELED", Decimal("3")) is OrderStatus.CANCELED


def test_an_unknown_status_stays_working_so_it_is_polled_again() -> None:
    assert common_status("SOMETHING_NEW") is OrderStatus.PENDING
    assert common_status(None) is OrderStatus.PENDING
