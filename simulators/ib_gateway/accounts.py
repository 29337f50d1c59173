"""Paper-account bookkeeping: cash, positions, margin and the values IB reports.

Stocks and options settle in cash at the fill; futures only move cash by realized P&L, their
open P&L counts toward net liquidation. Margin is a simple Reg-T style model (50% initial,
25% maintenance for stock, exchange amounts per futures contract, premium plus 20% of the
underlying for short options), enough for whatIf answers and insufficient-funds rejections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from .instruments import Instrument
from .listings import to_usd

ZERO = Decimal(0)
CENT = Decimal("0.01")
_SHORT_OPTION_UNDERLYING_RATE = Decimal("0.2")
_BUYING_POWER_FACTOR = Decimal(2)


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def commission_for(inst: Instrument, quantity: Decimal, value: Decimal) -> Decimal:
    """Commission of a whole order of ``quantity`` units worth ``value`` (fixed pricing)."""
    if quantity <= 0:
        return ZERO
    amount = max(inst.commission_per_unit * quantity, inst.commission_min)
    if inst.commission_max_pct is not None:
        amount = min(amount, inst.commission_max_pct * value)
    return money(amount)


def mark_price(inst: Instrument) -> Decimal:
    quote = inst.quote
    for value in (quote.last, quote.close, quote.bid, quote.ask):
        if value is not None:
            return value
    return ZERO


def margin_for(inst: Instrument, quantity: Decimal, mark: Decimal) -> tuple[Decimal, Decimal]:
    """(initial, maintenance) margin of holding ``quantity`` at ``mark``."""
    size = abs(quantity)
    if size == 0:
        return ZERO, ZERO
    if inst.sec_type == "FUT":
        return size * inst.init_margin, size * inst.maint_margin
    if inst.sec_type == "OPT":
        if quantity > 0:
            return ZERO, ZERO
        under = mark_price(inst.underlying) if inst.underlying else ZERO
        amount = to_usd(inst, size * inst.mult * (mark + _SHORT_OPTION_UNDERLYING_RATE * under))
        return amount, amount
    value = to_usd(inst, size * mark * inst.mult)
    return value * inst.init_margin, value * inst.maint_margin


@dataclass
class Position:
    instrument: Instrument
    quantity: Decimal = ZERO
    avg_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO

    @property
    def avg_cost(self) -> Decimal:
        """IB reports average cost per contract, i.e. including the multiplier."""
        return self.avg_price * self.instrument.mult

    def market_value(self) -> Decimal:
        return self.quantity * mark_price(self.instrument) * self.instrument.mult

    def unrealized_pnl(self) -> Decimal:
        return (mark_price(self.instrument) - self.avg_price) * self.quantity * self.instrument.mult


@dataclass(frozen=True)
class Metrics:
    cash: Decimal
    net_liquidation: Decimal
    equity_with_loan: Decimal
    gross_position_value: Decimal
    stock_market_value: Decimal
    option_market_value: Decimal
    futures_pnl: Decimal
    init_margin: Decimal
    maint_margin: Decimal
    available_funds: Decimal
    excess_liquidity: Decimal
    buying_power: Decimal
    unrealized_pnl: Decimal
    realized_pnl: Decimal


@dataclass
class Account:
    account_id: str
    cash: Decimal
    positions: dict[int, Position] = field(default_factory=dict)
    realized_pnl: Decimal = ZERO
    foreign_cash: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    """Cash in other currencies: code -> (amount, USD per unit). It counts toward cash and net liquidation."""

    def position(self, inst: Instrument) -> Position:
        pos = self.positions.get(inst.con_id)
        if pos is None:
            pos = self.positions[inst.con_id] = Position(inst)
        return pos

    def apply_fill(self, inst: Instrument, signed_qty: Decimal, price: Decimal, commission: Decimal) -> Decimal | None:
        """Book a fill; return the realized P&L (net of this commission) if it closed anything."""
        pos = self.position(inst)
        mult = inst.mult
        old = pos.quantity
        realized: Decimal | None = None
        if old == 0 or (old > 0) == (signed_qty > 0):
            total = abs(old) + abs(signed_qty)
            pos.avg_price = (pos.avg_price * abs(old) + price * abs(signed_qty)) / total
        else:
            closed = min(abs(signed_qty), abs(old))
            gross = (price - pos.avg_price) * closed * (1 if old > 0 else -1) * mult
            realized = gross - commission
            pos.realized_pnl += realized
            self.realized_pnl += realized
            if inst.sec_type == "FUT":
                self.cash += to_usd(inst, gross)
            if abs(signed_qty) > abs(old):
                pos.avg_price = price
        pos.quantity = old + signed_qty
        if pos.quantity == 0:
            pos.avg_price = ZERO
        if inst.sec_type != "FUT":
            self.cash -= to_usd(inst, signed_qty * price * mult)
        self.cash -= to_usd(inst, commission)
        return realized

    def metrics(self, extra: tuple[Instrument, Decimal] | None = None, extra_cost: Decimal = ZERO) -> Metrics:
        """Account figures now, or as if ``extra`` (instrument, signed quantity) were added at its mark."""
        holdings = {con_id: (p.instrument, p.quantity) for con_id, p in self.positions.items()}
        if extra is not None:
            inst, qty = extra
            held = holdings.get(inst.con_id, (inst, ZERO))[1]
            holdings[inst.con_id] = (inst, held + qty)
        stock_value = option_value = gross = futures_pnl = init = maint = unrealized = ZERO
        for con_id, (inst, qty) in holdings.items():
            mark = mark_price(inst)
            i, m = margin_for(inst, qty, mark)
            init += i
            maint += m
            pos = self.positions.get(con_id)
            open_pnl = to_usd(inst, pos.unrealized_pnl()) if pos is not None else ZERO
            unrealized += open_pnl
            if inst.sec_type == "FUT":
                futures_pnl += open_pnl
                continue
            value = to_usd(inst, qty * mark * inst.mult)
            gross += abs(value)
            if inst.sec_type == "OPT":
                option_value += value
            else:
                stock_value += value
        cash = self.cash + self.foreign_cash_in_base() - extra_cost
        if extra is not None and extra[0].sec_type != "FUT":
            cash -= to_usd(extra[0], extra[1] * mark_price(extra[0]) * extra[0].mult)
        nlv = cash + stock_value + option_value + futures_pnl
        available = nlv - init
        return Metrics(
            cash=cash, net_liquidation=nlv, equity_with_loan=nlv, gross_position_value=gross,
            stock_market_value=stock_value, option_market_value=option_value,
            futures_pnl=futures_pnl, init_margin=init, maint_margin=maint,
            available_funds=available, excess_liquidity=nlv - maint,
            buying_power=max(available, ZERO) * _BUYING_POWER_FACTOR,
            unrealized_pnl=unrealized, realized_pnl=self.realized_pnl,
        )

    def values(self) -> list[tuple[str, str, str]]:
        """(tag, value, currency) triples as account updates and account summary report them."""
        m = self.metrics()
        cushion = (m.excess_liquidity / m.net_liquidation) if m.net_liquidation else ZERO
        leverage = (m.gross_position_value / m.net_liquidation) if m.net_liquidation else ZERO
        usd = [
            ("NetLiquidation", m.net_liquidation), ("TotalCashValue", m.cash), ("SettledCash", m.cash),
            ("AccruedCash", ZERO), ("BuyingPower", m.buying_power),
            ("EquityWithLoanValue", m.equity_with_loan),
            ("PreviousDayEquityWithLoanValue", m.equity_with_loan),
            ("GrossPositionValue", m.gross_position_value), ("RegTEquity", m.equity_with_loan),
            ("RegTMargin", m.init_margin), ("SMA", m.available_funds),
            ("InitMarginReq", m.init_margin), ("MaintMarginReq", m.maint_margin),
            ("AvailableFunds", m.available_funds), ("ExcessLiquidity", m.excess_liquidity),
            ("FullInitMarginReq", m.init_margin), ("FullMaintMarginReq", m.maint_margin),
            ("FullAvailableFunds", m.available_funds), ("FullExcessLiquidity", m.excess_liquidity),
            ("LookAheadInitMarginReq", m.init_margin), ("LookAheadMaintMarginReq", m.maint_margin),
            ("LookAheadAvailableFunds", m.available_funds),
            ("LookAheadExcessLiquidity", m.excess_liquidity),
            ("StockMarketValue", m.stock_market_value), ("OptionMarketValue", m.option_market_value),
            ("FuturesPNL", m.futures_pnl), ("UnrealizedPnL", m.unrealized_pnl),
            ("RealizedPnL", m.realized_pnl), ("CashBalance", m.cash), ("TotalCashBalance", m.cash),
            ("NetLiquidationByCurrency", m.net_liquidation),
        ]
        result = [
            ("AccountCode", self.account_id, ""), ("AccountType", "INDIVIDUAL", ""),
            ("AccountReady", "true", ""), ("Currency", "USD", "USD"), ("ExchangeRate", "1.00", "USD"),
            ("Cushion", str(cushion.quantize(Decimal("0.0001"))), ""),
            ("Leverage-S", str(leverage.quantize(Decimal("0.01"))), ""),
            ("DayTradesRemaining", "-1", ""), ("HighestSeverity", "0", ""),
            ("LookAheadNextChange", "0", ""),
        ]
        result += [(tag, str(money(value)), "USD") for tag, value in usd]
        result += [
            (tag, str(money(value)), "BASE") for tag, value in usd
            if tag in LEDGER_TAGS
        ]
        return self._with_foreign_ledgers(result) if self.foreign_cash else result

    def foreign_cash_in_base(self) -> Decimal:
        return sum((amount * rate for amount, rate in self.foreign_cash.values()), ZERO)

    def _with_foreign_ledgers(self, rows: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
        """The USD ledger holds USD alone and each other currency gets its own; BASE keeps the totals."""
        usd_only = {"CashBalance": self.cash, "TotalCashBalance": self.cash}
        out: list[tuple[str, str, str]] = []
        for tag, reported, currency in rows:
            value = reported
            if currency == "USD" and tag in usd_only:
                value = str(money(usd_only[tag]))
            elif currency == "USD" and tag == "NetLiquidationByCurrency":
                value = str(money(Decimal(reported) - self.foreign_cash_in_base()))
            out.append((tag, value, currency))
        for code, (amount, rate) in sorted(self.foreign_cash.items()):
            out += [("CashBalance", str(money(amount)), code), ("TotalCashBalance", str(money(amount)), code),
                    ("NetLiquidationByCurrency", str(money(amount)), code), ("ExchangeRate", str(rate), code),
                    ("UnrealizedPnL", "0.00", code), ("RealizedPnL", "0.00", code)]
        return out


LEDGER_TAGS = frozenset(
    {"CashBalance", "TotalCashBalance", "NetLiquidationByCurrency", "UnrealizedPnL", "RealizedPnL",
     "StockMarketValue", "OptionMarketValue", "FuturesPNL", "ExchangeRate"}
)


@dataclass(frozen=True)
class PositionSnapshot:
    symbol: str
    local_symbol: str
    con_id: int
    sec_type: str
    quantity: Decimal
    avg_cost: Decimal
    market_value: Decimal
    realized_pnl: Decimal


@dataclass(frozen=True)
class AccountSnapshot:
    account: str
    cash: Decimal
    net_liquidation: Decimal
    equity_with_loan: Decimal
    buying_power: Decimal
    available_funds: Decimal
    excess_liquidity: Decimal
    init_margin: Decimal
    maint_margin: Decimal
    gross_position_value: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    positions: dict[str, PositionSnapshot]

    @classmethod
    def of(cls, account: Account) -> AccountSnapshot:
        m = account.metrics()
        positions = {
            p.instrument.key: PositionSnapshot(
                p.instrument.symbol, p.instrument.local_symbol, p.instrument.con_id, p.instrument.sec_type,
                p.quantity, p.avg_cost, p.market_value(), p.realized_pnl,
            )
            for p in account.positions.values()
            if p.quantity != 0
        }
        return cls(
            account.account_id, m.cash, m.net_liquidation, m.equity_with_loan, m.buying_power,
            m.available_funds, m.excess_liquidity, m.init_margin, m.maint_margin,
            m.gross_position_value, m.realized_pnl, m.unrealized_pnl, positions,
        )
