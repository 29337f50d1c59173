"""The platform contract's field lists, read from docs/PLATFORM_CONTRACT.md, and the plain-number rule."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "PLATFORM_CONTRACT.md"
NAME = re.compile(r"^[a-z][a-z_]*$")


def _section(title: str) -> str:
    text = CONTRACT.read_text()
    start = text.index("\n", text.index(f"\n## {title}") + 1)  # after the heading line
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def contract_fields(title: str) -> tuple[set[str], set[str]]:
    """Top-level names and `validation` sub-names a section lists in backticks (values like "local" excluded)."""
    top: set[str] = set()
    nested: set[str] = set()
    for token in re.findall(r"`([^`]+)`", _section(title)):
        if token.startswith("{"):
            nested.update(n for n in re.findall(r"[a-z_]+", token) if NAME.match(n))
        elif NAME.match(token):
            top.add(token)
    return top, nested


def missing(result: dict[str, Any], title: str) -> list[str]:
    top, nested = contract_fields(title)
    absent = sorted(name for name in top if name not in result)
    if nested:
        validation = result.get("validation") or {}
        absent += sorted(f"validation.{n}" for n in nested if n not in validation)
    return absent


def not_plain_numbers(value: Any, path: str = "") -> list[str]:
    """Paths of numeric strings written with an exponent or padded with zeros (3.00000000, 0E-8, 1E+2)."""
    bad: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in ("raw", "brokerage_response", "trade_impacts", "combined_remaining_balance"):
                bad += not_plain_numbers(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            bad += not_plain_numbers(item, f"{path}[{i}]")
    elif isinstance(value, str) and re.fullmatch(r"-?[0-9.]+(E[-+]?[0-9]+)?", value, re.IGNORECASE):
        try:
            Decimal(value)
        except InvalidOperation:
            return bad
        if "e" in value.lower() or ("." in value and value.endswith(("0", "."))):
            bad.append(f"{path}={value}")
    return bad
