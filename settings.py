"""Runtime configuration: the only module that reads the environment.

Unsafe or ambiguous values fail at start-up, naming the variable, rather than at the
moment an order is about to go out.
"""

from __future__ import annotations

import os
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class TradingMode(StrEnum):
    PAPER = "paper"
    LIVE = "live"


def _default_data_dir() -> Path:
    return Path.home() / ".tradeexec"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False,
        env_ignore_empty=True,  # VAR= means unset: an empty kill-switch path must not become Path('.')
    )

    database_url: SecretStr | None = Field(default=None, validation_alias="DATABASE_URL")
    database_pool_size: int = Field(default=10, ge=1, le=500, validation_alias="DATABASE_POOL_SIZE")
    """Pooled connections (and as many again on overflow): size it for the concurrent executes expected."""
    tradeexec_data_dir: Path = Field(default_factory=_default_data_dir, validation_alias="TRADEEXEC_DATA_DIR")
    brokers: Annotated[tuple[str, ...], NoDecode] = Field(default=(), validation_alias="BROKERS")

    ibkr_gateway_host: str = Field(default="127.0.0.1", validation_alias="IBKR_GATEWAY_HOST")
    ibkr_gateway_port: int = Field(default=4002, ge=1, le=65535, validation_alias="IBKR_GATEWAY_PORT")
    ibkr_client_id: int = Field(default=17, ge=0, validation_alias="IBKR_CLIENT_ID")
    ibkr_accounts: Annotated[tuple[str, ...], NoDecode] = Field(default=(), validation_alias="IBKR_ACCOUNTS")
    ibkr_request_timeout_seconds: float = Field(default=10.0, gt=0, validation_alias="IBKR_REQUEST_TIMEOUT_SECONDS")

    snaptrade_client_id: str | None = Field(default=None, validation_alias="SNAPTRADE_CLIENT_ID")
    snaptrade_consumer_key: SecretStr | None = Field(default=None, validation_alias="SNAPTRADE_CONSUMER_KEY")
    snaptrade_user_id: str | None = Field(default=None, validation_alias="SNAPTRADE_USER_ID")
    snaptrade_user_secret: SecretStr | None = Field(default=None, validation_alias="SNAPTRADE_USER_SECRET")
    snaptrade_base_url: str | None = Field(default=None, validation_alias="SNAPTRADE_BASE_URL")
    snaptrade_timeout_seconds: float = Field(default=15.0, gt=0, validation_alias="SNAPTRADE_TIMEOUT_SECONDS")

    trading_mode: TradingMode = Field(default=TradingMode.PAPER, validation_alias="TRADING_MODE")
    orders_enabled: bool = Field(default=False, validation_alias="ORDERS_ENABLED")
    live_trading_override_file: Path | None = Field(default=None, validation_alias="LIVE_TRADING_OVERRIDE_FILE")
    trading_kill_switch: bool = Field(default=False, validation_alias="TRADING_KILL_SWITCH")
    trading_kill_switch_file: Path | None = Field(default=None, validation_alias="TRADING_KILL_SWITCH_FILE")

    preview_ttl_seconds: int = Field(default=300, gt=0, le=86400, validation_alias="PREVIEW_TTL_SECONDS")
    max_order_notional: Decimal | None = Field(default=None, gt=0, validation_alias="MAX_ORDER_NOTIONAL")
    max_order_quantity: Decimal | None = Field(default=None, gt=0, validation_alias="MAX_ORDER_QUANTITY")
    max_position_weight: Decimal | None = Field(default=None, gt=0, le=1, validation_alias="MAX_POSITION_WEIGHT")
    price_band_pct: Decimal | None = Field(default=None, gt=0, validation_alias="PRICE_BAND_PCT")
    reconcile_settle_seconds: int = Field(default=120, ge=0, validation_alias="RECONCILE_SETTLE_SECONDS")
    """How long an unsettled order may be missing at the broker before it is FAILED; never shorter than the
    broker timeouts (a placement still in flight must not be settled)."""
    reconcile_recheck_hours: float = Field(default=24.0, gt=0, le=24 * 90, validation_alias="RECONCILE_RECHECK_HOURS")
    """How long an inferred final status (FAILED 'not found', a non-definitive rejection) stays re-checked."""
    reconcile_missing_seconds: int = Field(default=900, ge=0, validation_alias="RECONCILE_MISSING_SECONDS")
    """How long a working order may be absent from the broker before it is flagged MISSING_AT_BROKER."""
    reconcile_in_flight_interval_seconds: float = Field(
        default=5.0, ge=0, validation_alias="RECONCILE_IN_FLIGHT_INTERVAL_SECONDS"
    )
    """Long-running servers: how often SUBMITTING/UNKNOWN orders are checked (0 = never)."""
    reconcile_in_flight_threshold_seconds: float = Field(
        default=5.0, ge=0, validation_alias="RECONCILE_IN_FLIGHT_THRESHOLD_SECONDS"
    )
    """...once they are at least this old (this process never touches its own placements in flight)."""
    reconcile_poll_interval_seconds: float = Field(
        default=60.0, ge=0, validation_alias="RECONCILE_POLL_INTERVAL_SECONDS"
    )
    """Long-running servers: how often working orders are refreshed from the broker (0 = never)."""
    market_data_cache_seconds: float = Field(default=5.0, ge=0, le=300, validation_alias="MARKET_DATA_CACHE_SECONDS")
    """Market-data reads are reused this long per (account, request); 0 turns the cache off."""

    fault_kill_at: str | None = Field(default=None, validation_alias="TRADEEXEC_FAULT_KILL_AT")
    """Test-only fault injection: SIGKILL this process at the named execute checkpoint."""

    mcp_auth_token: SecretStr | None = Field(default=None, validation_alias="MCP_AUTH_TOKEN")
    mcp_max_sessions: int = Field(default=64, ge=1, le=10_000, validation_alias="MCP_MAX_SESSIONS")
    """MCP over HTTP: concurrent sessions kept in memory; a new one beyond this is refused until one ends."""
    execute_confirmation: Literal["auto", "always", "never", "browser"] = Field(
        default="auto", validation_alias="EXECUTE_CONFIRMATION"
    )
    """MCP execute_trade: ask the human through elicitation when the client can (auto), refuse when it cannot
    (always), rely on the LLM having shown the preview (never), or wait for the human on the /ui page (browser)."""

    operator_token: SecretStr | None = Field(default=None, validation_alias="OPERATOR_TOKEN")
    """The human operator's credential for the /ui confirmation page; unset, the page confirms nothing."""
    ui_base_url: str = Field(default="http://127.0.0.1:8080/ui", min_length=8, validation_alias="UI_BASE_URL")
    """Where the operator opens the /ui page; execute_trade hands out links under it (browser confirmation)."""

    # --- operations: HTTP API, logs, metrics (issue 18) ---
    api_auth_token: SecretStr | None = Field(default=None, validation_alias="API_AUTH_TOKEN")
    """Bearer token of `tradeexec api`; unset: MCP_AUTH_TOKEN is used. Required off loopback."""
    api_request_timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, validation_alias="API_REQUEST_TIMEOUT_SECONDS"
    )
    log_format: Literal["json", "text"] | None = Field(default=None, validation_alias="LOG_FORMAT")
    """json or text; unset: text on a terminal, JSON otherwise."""
    mcp_stateless_http: bool = Field(default=False, validation_alias="MCP_STATELESS_HTTP")
    """MCP over HTTP without server-side sessions (any process can answer any request; see docs/scaling.md).
    Elicitation needs a session, so it requires EXECUTE_CONFIRMATION=browser, always or never."""
    metrics_port: int | None = Field(default=None, ge=0, le=65535, validation_alias="METRICS_PORT")
    """Serve Prometheus /metrics on this port of its own (for stdio MCP, which has no HTTP server)."""

    @field_validator("operator_token")
    @classmethod
    def _long_operator_token(cls, value: SecretStr | None) -> SecretStr | None:
        """Checked after parsing, so a refusal shows the secret masked, never its characters."""
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("OPERATOR_TOKEN is too short: use at least 16 random characters")
        return value

    @field_validator("trading_mode", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> Any:
        text = str(value).strip().lower()
        if text not in {m.value for m in TradingMode}:
            raise ValueError(f"TRADING_MODE must be 'paper' or 'live', got {str(value)[:20]!r}")
        return text

    @field_validator("brokers", "ibkr_accounts", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("brokers")
    @classmethod
    def _known_brokers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        names = tuple(v.lower() for v in value)
        unknown = sorted(set(names) - {"ibkr", "snaptrade"})
        if unknown:
            raise ValueError(f"BROKERS may list only 'ibkr' and 'snaptrade', got {unknown}")
        return names

    @field_validator("ibkr_accounts")
    @classmethod
    def _upper_accounts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.upper() for v in value)

    @model_validator(mode="after")
    def _brokers_from_present_settings(self) -> Settings:
        """BROKERS unset means every broker whose settings are present (IBKR: a gateway host or port;
        SnapTrade: its four credentials). BROKERS set, even to nothing, is taken as given."""
        if "brokers" in self.model_fields_set:
            return self
        found: list[str] = []
        if {"ibkr_gateway_host", "ibkr_gateway_port"} & self.model_fields_set:
            found.append("ibkr")
        credentials = (self.snaptrade_client_id, self.snaptrade_consumer_key, self.snaptrade_user_id,
                       self.snaptrade_user_secret)
        if all(value is not None for value in credentials):
            found.append("snaptrade")
        self.brokers = tuple(found)
        return self

    @model_validator(mode="after")
    def _settle_not_shorter_than_placement(self) -> Settings:
        if self.reconcile_settle_seconds < self.broker_timeout_seconds:
            raise ValueError(
                f"RECONCILE_SETTLE_SECONDS ({self.reconcile_settle_seconds}) must be at least the broker timeout "
                f"({self.broker_timeout_seconds:g} s): a placement still in flight must never be settled as FAILED"
            )
        return self

    @property
    def broker_timeout_seconds(self) -> float:
        """The longest a placement can be in flight with the configured brokers."""
        timeouts = {"ibkr": self.ibkr_request_timeout_seconds, "snaptrade": self.snaptrade_timeout_seconds}
        return max(timeouts[name] for name in (self.brokers or tuple(timeouts)))

    @property
    def live_override_present(self) -> bool:
        path = self.live_trading_override_file
        return path is not None and path.is_file()

    def trading_block_reason(self) -> str | None:
        """Why an order may not go to a broker right now, or None when it may."""
        if self.trading_kill_switch:
            return "TRADING_KILL_SWITCH is on: all order placement is stopped"
        if self.trading_kill_switch_file is not None:
            reason = kill_switch_file_reason(self.trading_kill_switch_file)
            if reason:
                return reason
        if self.trading_mode is TradingMode.LIVE and self.orders_enabled and not self.live_override_present:
            return (
                "TRADING_MODE=live requires LIVE_TRADING_OVERRIDE_FILE to name an existing file; "
                "without it no live order is placed"
            )
        return None


def kill_switch_file_reason(path: Path) -> str | None:
    """Why the kill-switch file stops trading, or None if nothing is at the path. Fails closed.

    Anything at the path counts, a symlink too even if broken (lstat, not stat). Only "no such
    file" with every parent directory present means absent; a loop, a path under a regular file
    (ENOTDIR), a missing parent or a permission error stop trading, saying why.
    """
    try:
        os.lstat(path)
    except FileNotFoundError:
        if path.parent.is_dir():
            return None
        return (f"TRADING_KILL_SWITCH_FILE {path}: its directory does not exist, so the switch cannot be read; "
                "all order placement is stopped")
    except OSError as exc:
        return (f"TRADING_KILL_SWITCH_FILE {path} cannot be checked ({exc.strerror or type(exc).__name__}); "
                "all order placement is stopped")
    return f"TRADING_KILL_SWITCH_FILE {path} exists: all order placement is stopped"


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
