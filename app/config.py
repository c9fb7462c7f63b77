"""Settings, read from the environment (and a .env file): imports nothing else from the app."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from limits import parse_many
from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./data/tutor.db"
    host: str = "127.0.0.1"
    port: int = 8000
    # Signs the guest cookie. When unset, a random key is kept in a file beside the SQLite database (or in
    # ./data) so that guests keep their history across restarts; set it explicitly when running several servers.
    secret_key: str = Field(default="", repr=False)
    secret_key_file: Path = Path("./data/secret_key")
    bank_dir: Path = Path(__file__).parent / "bank"
    cookie_secure: bool = False
    # The address the tool is reached at (https://tutor.example.edu), for the URLs given to an LMS; when unset,
    # each request's own address is used.
    public_url: str = ""
    # Who may show the pages in a frame (the Content-Security-Policy frame-ancestors sources): an LMS that
    # embeds the tool is listed here, e.g. "'self' https://canvas.example.edu".
    frame_ancestors: str = "'self'"
    # Seconds between passes of the background worker that delivers grades to LMSs; 0 turns it off
    # (`tutor outbox run` then delivers on demand).
    outbox_interval: float = 10.0
    # --- serving: `tutor serve` reads these (README, "Running in production") ---
    # Worker processes; each has its own event loop, database pool and share of the CPU.
    web_concurrency: int = Field(default=1, ge=1, le=64)
    # Trust X-Forwarded-Proto/-For from these proxy addresses (comma-separated, or "*"): behind an HTTPS proxy
    # the app then sees https, so its links are https and every cookie it sets is Secure.
    proxy_headers: bool = True
    forwarded_allow_ips: str = "127.0.0.1"
    # Logs: "json" writes one JSON object a line (for a log collector), "text" is for reading in a terminal.
    log_format: Literal["json", "text"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    access_log: bool = True  # one line per request, with its request id, status and duration
    # When set, GET /metrics asks for `Authorization: Bearer <token>`; Prometheus sends it from its scrape config.
    metrics_token: str = Field(default="", repr=False)
    # --- the database connection pool (per worker process) and a limit on each statement ---
    db_pool_size: int = Field(default=5, ge=1, le=1000)
    db_max_overflow: int = Field(default=10, ge=0, le=1000)
    db_pool_timeout: float = Field(default=30.0, gt=0, le=3600)  # seconds to wait for a free connection
    # Seconds after which a connection is replaced: under the idle limits of firewalls and PgBouncer; -1 never.
    db_pool_recycle: int = Field(default=1800, ge=-1)
    db_pool_pre_ping: bool = True
    # PostgreSQL cancels any statement running longer than this (0: no limit). SQLite has no such limit.
    db_statement_timeout_ms: int = Field(default=0, ge=0)

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _any_case(cls, value: object, info: ValidationInfo) -> object:
        """``LOG_LEVEL=info`` and ``LOG_FORMAT=JSON`` mean what they say."""
        if isinstance(value, str):
            value = value.strip()
            return value.upper() if info.field_name == "log_level" else value.lower()
        return value

    # While the database cannot be reached, requests answer 503 with this Retry-After (seconds).
    db_retry_after: int = Field(default=5, ge=1, le=3600)
    # Allocations between two collections of the youngest generation (Python's default is 700; 0 keeps it).
    gc_threshold: int = Field(default=20_000, ge=0, le=10_000_000)
    # On SIGTERM the server stops accepting and lets requests in flight finish for up to this many seconds.
    shutdown_timeout: float = Field(default=20.0, gt=0, le=3600)
    # Where the rate limits and the sign-in lock-outs are counted: a Redis URL (redis://host:6379/0) that every
    # server shares, or empty to count in each server's memory (right for one server only). Keys start with
    # the prefix, so several deployments can share one Redis.
    redis_url: str = ""
    redis_key_prefix: str = "tutor"
    # Rate limits in the `limits` notation ("60/minute", "10 per second"); too many answer 429 with Retry-After.
    # Sized for a course of 2,000 learners, every one of them behind the same campus address (README, "Rate
    # limits"): a person never reaches them, a runaway script or a flood does.
    rate_limit_enabled: bool = True
    rate_limit_submissions: str = "60/minute"  # per learner: one answer a second, sustained
    rate_limit_submissions_ip: str = "3000/minute"  # per address: 2,000 learners each answering every 40 s
    rate_limit_signin: str = "300/minute"  # per address: sign-in attempts, each an Argon2 hash of CPU time

    @field_validator("rate_limit_submissions", "rate_limit_submissions_ip", "rate_limit_signin")
    @classmethod
    def _one_rate(cls, value: str, info: ValidationInfo) -> str:
        """Refused at start, naming the setting, rather than on the first request that would count."""
        name = str(info.field_name).upper()
        try:
            rates = parse_many(value)
        except ValueError as exc:
            raise ValueError(
                f"{name}={value!r} is not a rate in the limits notation ({exc}); write e.g. '60/minute'"
            ) from None
        if len(rates) != 1:
            raise ValueError(f"{name}={value!r} holds {len(rates)} rates; give exactly one, e.g. '60/minute'")
        if rates[0].amount < 1:
            raise ValueError(f"{name}={value!r} allows nothing; the amount must be at least 1")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "redis+unix://")):
            raise ValueError(
                f"REDIS_URL={value!r} is not a Redis URL; write e.g. 'redis://127.0.0.1:6379/0', "
                "or leave it empty to count in each server's memory"
            )
        return value

    def signing_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        path = self.secret_key_file
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        path.write_text(key)
        path.chmod(0o600)
        return key


@lru_cache
def get_settings() -> Settings:
    return Settings()
