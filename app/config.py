"""Settings, read from the environment (and a .env file): imports nothing else from the app."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field
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
