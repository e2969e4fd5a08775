"""The one settings reader: strict, typed parsing of environment variables.

Built on environs (marshmallow fields), which rejects `DEBUG=maybe` instead of
reading it as False. Errors are collected while settings load and reported
together by `finish()` as one line per variable, then start-up stops.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from environs import Env, EnvError

_RATE = re.compile(r"^[1-9]\d*/(s|sec|second|m|min|minute|h|hour|d|day)$")


class ConfigReader:
    def __init__(self, base_dir: Path) -> None:
        self._env = Env()
        self._errors: dict[str, str] = {}
        env_file = os.environ.get("ENV_FILE", str(base_dir / ".env"))
        if env_file and "ENV_FILE" in os.environ and not Path(env_file).is_file():
            # The default .env is optional; a file named explicitly must exist
            # (a typo'd path would otherwise start with silent defaults).
            self.fail("ENV_FILE", f"names {env_file!r}, which does not exist or is not a file")
        elif env_file:
            # Variables already in the environment win over the file.
            self._env.read_env(env_file, recurse=False, override=False)

    # -- typed readers ---------------------------------------------------------
    def _read(self, name: str, default: Any, parser: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._env, parser)(name, default, **kwargs)
        except EnvError:
            raw = os.environ.get(name, "")
            self._errors[name] = f"{name}={raw!r} is not a valid {_KIND[parser]}"
            return default

    def str(self, name: str, default: str) -> str:
        return self._read(name, default, "str")

    def bool(self, name: str, default: bool) -> bool:
        return self._read(name, default, "bool")

    def int(self, name: str, default: int, *, minimum: int | None = None) -> int:
        value = self._read(name, default, "int")
        if minimum is not None and name not in self._errors and value < minimum:
            self.fail(name, f"must be at least {minimum} (got {value})")
            return default
        return value

    def float(self, name: str, default: float, *, minimum: float | None = None) -> float:
        value = self._read(name, default, "float")
        if minimum is not None and name not in self._errors and value < minimum:
            self.fail(name, f"must be at least {minimum} (got {value})")
            return default
        return value

    def list(self, name: str, default: list[str]) -> list[str]:
        value = self._read(name, default, "list")
        return [item.strip() for item in value if item.strip()]

    def path(self, name: str, default: Path) -> Path:
        # Blank (`SQLITE_PATH=` as in .env.example) means the default, not
        # Path("") -- which would resolve to the current directory.
        value = self._read(name, str(default), "str").strip() or str(default)
        return Path(value).expanduser().resolve()

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.str(name, default)
        if value not in choices:
            self.fail(name, f"must be one of {', '.join(choices)} (got {value!r})")
            return default
        return value

    def rate(self, name: str, default: str) -> str:
        value = self.str(name, default)
        if not _RATE.match(value):
            # 0/min would lock everyone out (every attempt throttled), never what was meant.
            self.fail(name, f"must look like 10/min (a number of at least 1/sec|min|hour|day), got {value!r}")
            return default
        return value

    # -- errors ------------------------------------------------------------------
    def fail(self, name: str, problem: str) -> None:
        self._errors[name] = f"{name} {problem}"

    def finish(self, *, debug: bool, secret_key: str) -> None:
        if not secret_key and not debug:
            self.fail("SECRET_KEY", "is required when DEBUG is off (set it in the environment or .env)")
        if self._errors:
            lines = [f"Configuration error: {message}." for message in self._errors.values()]
            # SystemExit prints one line per bad variable to stderr, no traceback.
            print("\n".join(lines), file=sys.stderr)
            raise SystemExit(78)  # EX_CONFIG


_KIND = {
    "str": "string",
    "bool": "boolean (use true/false, 1/0, yes/no, on/off)",
    "int": "integer",
    "float": "number",
    "list": "comma-separated list",
}


def databases_from_env(
    *, mongodb_uri: str, mongodb_name: str, database_url: str, sqlite_path: Path
) -> dict[str, dict[str, Any]]:
    """MONGODB_URI, else DATABASE_URL, else the embedded SQLite file."""
    if mongodb_uri:
        return {
            "default": {
                "ENGINE": "django_mongodb_backend",
                "HOST": mongodb_uri,
                "NAME": mongodb_name,
            }
        }
    if database_url:
        import dj_database_url

        config = dj_database_url.parse(database_url, conn_max_age=60, conn_health_checks=True)
        if config["ENGINE"] == "django.db.backends.sqlite3":
            config.update(_sqlite_options())
        return {"default": config}
    sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    return {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(sqlite_path), **_sqlite_options()}}


def _sqlite_options() -> dict[str, Any]:
    # Web, worker and beat processes share the file: WAL lets readers run
    # beside the one writer, IMMEDIATE transactions take the write lock up
    # front (no deadlock on upgrade), and a generous timeout waits for it.
    return {
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    }
