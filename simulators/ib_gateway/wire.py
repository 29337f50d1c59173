"""TWS socket framing and field formatting.

Every message is a 4-byte big-endian length followed by NUL-terminated text fields.
The first bytes a client sends are the un-framed ``API\\0`` greeting followed by one framed
version-range string; everything afterwards is a framed message whose field 0 is the id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation

API_GREETING = b"API\0"

# What TWS writes for "no value" in numeric fields it must fill (margins, commissions).
UNSET_DOUBLE_TEXT = "1.7976931348623157E308"
_UNSET_DOUBLE_VALUE = Decimal("1.7976931348623157E308")
UNSET_INTEGER = 2**31 - 1


def frame(fields: Iterable[str]) -> bytes:
    """Encode one message: fields joined and terminated by NUL, with a length prefix."""
    payload = ("\0".join(fields) + "\0").encode()
    return len(payload).to_bytes(4, "big") + payload


def split_frames(buffer: bytearray) -> list[list[str]]:
    """Remove every complete message from ``buffer`` and return their fields.

    Incomplete trailing data is left in the buffer for the next read.
    """
    messages: list[list[str]] = []
    pos = 0
    size = len(buffer)
    while size - pos >= 4:
        length = int.from_bytes(buffer[pos : pos + 4], "big")
        end = pos + 4 + length
        if end > size:
            break
        text = buffer[pos + 4 : end].decode(errors="backslashreplace")
        fields = text.split("\0")
        if fields and fields[-1] == "":
            fields.pop()
        messages.append(fields)
        pos = end
    if pos:
        del buffer[:pos]
    return messages


def parse_version_range(text: str) -> tuple[int, int]:
    """Parse the client's ``v157..178[ options]`` greeting into (min, max)."""
    spec = text.split(" ", 1)[0].lstrip("v")
    low, _, high = spec.partition("..")
    minimum = int(low)
    return minimum, int(high) if high else minimum


def fmt_decimal(value: Decimal) -> str:
    """Plain decimal text (no exponent, no trailing zeros) that float() and Decimal() both read."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def fmt_optional(value: Decimal | None) -> str:
    """Empty string for a missing value, as the client itself sends UNSET doubles."""
    return "" if value is None else fmt_decimal(value)


def fmt_bool(value: bool) -> str:
    return "1" if value else "0"


def parse_decimal(text: str) -> Decimal | None:
    """Read a client numeric field; empty, UNSET or non-finite values mean 'not given'."""
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite() or abs(value) >= _UNSET_DOUBLE_VALUE:
        return None
    return value


def parse_int(text: str, default: int = 0) -> int:
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        try:
            return int(Decimal(text))
        except InvalidOperation:
            return default


def parse_bool(text: str) -> bool:
    return text not in ("", "0", "false", "False")


class FieldReader:
    """Sequential reader over a message's fields; running past the end raises IndexError."""

    __slots__ = ("_fields", "pos")

    def __init__(self, fields: Sequence[str], start: int = 1) -> None:
        self._fields = fields
        self.pos = start

    def text(self) -> str:
        value = self._fields[self.pos]
        self.pos += 1
        return value

    def integer(self, default: int = 0) -> int:
        return parse_int(self.text(), default)

    def number(self) -> Decimal | None:
        return parse_decimal(self.text())

    def flag(self) -> bool:
        return parse_bool(self.text())

    def skip(self, count: int) -> None:
        if self.pos + count > len(self._fields):
            raise IndexError("message too short")
        self.pos += count

    @property
    def remaining(self) -> int:
        return len(self._fields) - self.pos
