"""Settings of the inventory app, read from `INVENTORY_*` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """One settings object for the whole package (prefix `INVENTORY_`)."""

    model_config = SettingsConfigDict(env_prefix="INVENTORY_", extra="ignore")

    data_dir: Path = Field(default=Path("./data"), description="where the SQLite file lives")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: SQLite file <data_dir>/inventory.db",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    idempotency_retention_hours: float = 24 * 14
    idempotency_inflight_timeout_s: float = Field(
        default=60.0,
        description="a committed claim without a response (left by an older version of the app) "
        "is taken over after this long; the app itself never commits such a claim",
    )
    max_clock_skew_s: float = Field(
        default=300.0,
        description="a document time (occurred_at or X-Edge-Queued-At) further than this in the "
        "future of the receive time is clamped to the receive time and flagged for review",
    )
    login_max_failures: int = Field(
        default=5, description="failed logins of one user from one address before a lockout "
        "(0: no throttling)")
    login_failure_window_s: float = Field(default=300.0, description="failures older than "
                                          "this are forgotten")
    login_lockout_s: float = Field(default=60.0, description="how long a locked-out user and "
                                   "address get 429 + Retry-After")
    fault_exit_at: str = Field(
        default="",
        description="TESTS ONLY: SIGKILL the app at a named point of an idempotent write "
        "(after-claim | after-work | before-commit | after-commit), optionally only for one "
        "Idempotency-Key (`point:key`)",
    )
    change_retention_days: float = 30.0
    session_secret: str = "dev-only-change-me"
    session_ttl_hours: float = 12.0
    max_page_limit: int = 500
    default_page_limit: int = 100
    longpoll_max_timeout_ms: int = 60_000
    log_requests: bool = True
    maintenance_interval_s: float = 600.0

    def resolved_database_url(self) -> str:
        """The database URL to use (explicit URL, or the SQLite file under `data_dir`)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'inventory.db').resolve()}"
