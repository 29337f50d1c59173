"""The log formatter and argument summaries: one line per event, secrets redacted, values shown only when safe."""

from __future__ import annotations

import io
import json
import logging
import uuid
from decimal import Decimal

from mcp_tools.results import Redactor
from telemetry.calls import call_scope, summarize
from telemetry.correlation import CORRELATION_ID, current_correlation, parse_correlation
from telemetry.logs import StructuredFormatter, configure_logging, resolve_format

SECRET = "s3cr3t-value-" + uuid.uuid4().hex


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_format_defaults_to_text_on_a_terminal_and_json_elsewhere() -> None:
    assert resolve_format(None, Terminal()) == "text"
    assert resolve_format(None, io.StringIO()) == "json"
    assert resolve_format("json", Terminal()) == "json"
    assert resolve_format("text", io.StringIO()) == "text"


def test_json_lines_carry_the_call_and_redact_secrets_even_in_exceptions() -> None:
    stream = io.StringIO()
    configure_logging("json", Redactor([SECRET]), stream=stream)
    log = logging.getLogger("tests.telemetry")
    try:
        with call_scope("http", "execute") as record:
            record.note_arguments({"preview_id": "abc", "password": SECRET})
            log.info("calling with %s", SECRET)
            try:
                raise RuntimeError(f"driver said {SECRET}")
            except RuntimeError:
                log.exception("failed")
    finally:
        logging.getLogger().handlers[:] = [h for h in logging.getLogger().handlers if h.get_name() !=
                                           "tradeexec-structured"]
    lines = stream.getvalue().splitlines()
    records = [json.loads(line) for line in lines]  # one JSON object per line, a traceback included
    assert len(records) == 3
    assert SECRET not in stream.getvalue()
    assert records[0]["message"] == "calling with ***"
    assert "RuntimeError" in records[1]["exception"]
    call = records[2]
    assert call["event"] == "call" and call["tool"] == "execute" and call["outcome"] == "ok"
    assert call["arguments"] == {"preview_id": "abc", "password": f"<str {len(SECRET)} chars>"}
    assert call["correlation_id"] == records[0]["correlation_id"]


def test_text_format_is_one_readable_line() -> None:
    formatter = StructuredFormatter("text", Redactor([SECRET]))
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "token %s", (SECRET,), None)
    line = formatter.format(record)
    assert "\n" not in line and "WARNING" in line and SECRET not in line


def test_summaries_show_order_terms_and_ids_only() -> None:
    summary = summarize({"ticker": "AAPL", "quantity": Decimal("2.5"), "user_secret": "abcdef",
                         "account_id": {"nested": SECRET}})
    assert summary == {"ticker": "AAPL", "quantity": "2.5", "user_secret": "<str 6 chars>",
                       "account_id": f"<dict {len(str({'nested': SECRET}))} chars>"}


def test_summaries_show_a_cash_amount_and_bracket_prices_as_order_terms() -> None:
    summary = summarize({"notional": Decimal("1000"), "take_profit_price": Decimal("210.5"),
                         "stop_loss_price": "180", "trail_secret": Decimal("1")})
    assert summary == {"notional": "1000", "take_profit_price": "210.5", "stop_loss_price": "180",
                       "trail_secret": "<Decimal 1 chars>"}


def test_correlation_outside_a_call_is_fresh_and_client_ids_must_be_canonical() -> None:
    assert CORRELATION_ID.get() is None
    assert current_correlation() != current_correlation()
    given = uuid.uuid4()
    assert parse_correlation(str(given)) == given
    assert parse_correlation(str(given).upper()) == given
    assert parse_correlation(" " + str(given)[1:]) is None
    assert parse_correlation(given.hex) is None
    assert parse_correlation(None) is None
