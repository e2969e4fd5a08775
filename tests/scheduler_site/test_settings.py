"""Settings come only from the environment (and an optional .env file), parsed strictly.

Each case runs in a child process with a clean environment, because settings
are read once at start-up and a bad value must stop that start-up.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.processes import ROOT, clean_env, manage, run_python

SETUP = "import django; django.setup()"
SECRET = "settings-test-secret-key"

SHOW_SETTINGS = """
import django, json
django.setup()
from django.conf import settings
names = ["DEBUG", "SECRET_KEY", "ALGORITHM", "ACCESS_TOKEN_EXPIRE_MINUTES", "LOGIN_FAILURES_PER_PAIR",
         "SECURE_SSL_REDIRECT"]
print(json.dumps({name: getattr(settings, name) for name in names}))
"""

# A plain-HTTP request to localhost, the way a browser on the same machine sends it
# (to the API's cheapest endpoint: health probes are exempt from the HTTPS redirect).
GET_PING = """
import django, json
django.setup()
from django.test import Client
response = Client(HTTP_HOST="127.0.0.1:8000").get("/api/v1/ping/")
print(json.dumps({"status": response.status_code, "location": response.get("Location"),
                  "hsts": response.get("Strict-Transport-Security")}))
"""


@pytest.fixture
def env(tmp_path: Path):
    def make(**overrides: str) -> dict[str, str]:
        return clean_env(SQLITE_PATH=str(tmp_path / "db.sqlite3"), **overrides)

    return make


def assert_config_errors(result, *names: str) -> None:
    """Start-up stopped with exactly one `Configuration error: NAME...` line per bad variable."""
    assert result.returncode == 78, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    named = [re.match(r"Configuration error: ([A-Z_]+)[= ]", line) for line in lines]
    assert all(named), lines
    assert sorted(match.group(1) for match in named) == sorted(names), lines


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "abc"),
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "0"),
        ("ALGORITHM", "RS512"),
        ("ALGORITHM", "none"),
        ("DEBUG", "maybe"),
        ("LOGIN_FAILURES_PER_PAIR", "ten"),
        ("LOGIN_FAILURES_PER_PAIR", "0"),
        ("LOGIN_FAILURES_PER_ADDRESS", "lots"),
        ("LOGIN_FAILURES_PER_USERNAME", "-1"),
        ("LOGIN_LOCKOUT_SECONDS", "0"),
        ("LOGIN_LOCKOUT_MAX_SECONDS", "30"),  # shorter than the first lockout (60)
        ("LOGIN_FAILURES_FORGOTTEN_AFTER_SECONDS", "600"),  # forgotten while still locked (900)
        ("JOBS_HTTP_ALLOWED_NETWORKS", "127.1"),
        ("JOBS_HTTP_ALLOWED_NETWORKS", "10.0.0.0/33"),
        ("JOBS_HTTP_ALLOWED_NETWORKS", "http://intranet/"),
        ("JOBS_BEAT_LEASE_SECONDS", "10"),  # not under the misfire grace (10): a takeover would record misses
        ("JOBS_BEAT_LEASE_SECONDS", "0.5"),
        ("JOBS_BEAT_POLL_SECONDS", "1.5"),  # over a third of the lease (3): the lease would lapse between ticks
        ("JOBS_BEAT_PARTITIONS", "0"),
        ("JOBS_BEAT_PARTITIONS", "65"),
    ],
)
def test_bad_value_stops_start_up_with_one_line_naming_the_variable(env, name, value):
    result = run_python(SETUP, env(SECRET_KEY=SECRET, **{name: value}))
    assert_config_errors(result, name)
    assert value in result.stderr


def test_bad_egress_allow_list_entries_are_each_named(env):
    result = run_python(SETUP, env(SECRET_KEY=SECRET, JOBS_HTTP_ALLOWED_NETWORKS="10.0.0.0/8, 0x7f.1 ,intranet,a b"))
    assert_config_errors(result, "JOBS_HTTP_ALLOWED_NETWORKS")
    assert "'0x7f.1'" in result.stderr and "'a b'" in result.stderr
    assert "10.0.0.0/8'" not in result.stderr and "'intranet'" not in result.stderr


def test_missing_secret_key_with_debug_off_is_an_error(env):
    result = run_python(SETUP, env())
    assert_config_errors(result, "SECRET_KEY")

    result = run_python(SETUP, env(DEBUG="false", SECRET_KEY=""))
    assert_config_errors(result, "SECRET_KEY")


def test_missing_secret_key_with_debug_on_uses_a_development_key(env):
    result = run_python(SHOW_SETTINGS, env(DEBUG="true"))
    assert result.returncode == 0, result.stderr
    assert "insecure" in json.loads(result.stdout)["SECRET_KEY"]


def test_every_bad_variable_is_reported_at_once_by_manage_py(env):
    result = manage(
        "check",
        env=env(ACCESS_TOKEN_EXPIRE_MINUTES="abc", ALGORITHM="none", LOGIN_FAILURES_PER_PAIR="x", DEBUG="maybe"),
    )
    # DEBUG is unknown, so it is treated as off: the missing SECRET_KEY is reported too.
    assert_config_errors(
        result, "ACCESS_TOKEN_EXPIRE_MINUTES", "ALGORITHM", "LOGIN_FAILURES_PER_PAIR", "DEBUG", "SECRET_KEY"
    )


def test_defaults(env):
    result = run_python(SHOW_SETTINGS, env(SECRET_KEY=SECRET))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "DEBUG": False,
        "SECRET_KEY": SECRET,
        "ALGORITHM": "HS256",
        "ACCESS_TOKEN_EXPIRE_MINUTES": 60,
        "LOGIN_FAILURES_PER_PAIR": 5,
        "SECURE_SSL_REDIRECT": False,
    }


def test_env_file_values_are_read_and_the_real_environment_wins(env, tmp_path):
    env_file = tmp_path / "settings.env"
    env_file.write_text(
        "# a comment\n"
        f"SECRET_KEY={SECRET}-from-file\n"
        "ACCESS_TOKEN_EXPIRE_MINUTES=15\n"
        "ALGORITHM=HS512\n"
        "LOGIN_FAILURES_PER_PAIR=7\n"
    )
    result = run_python(SHOW_SETTINGS, env(ENV_FILE=str(env_file), ALGORITHM="HS384"))
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["SECRET_KEY"] == f"{SECRET}-from-file"
    assert values["ACCESS_TOKEN_EXPIRE_MINUTES"] == 15
    assert values["LOGIN_FAILURES_PER_PAIR"] == 7
    assert values["ALGORITHM"] == "HS384"


def test_bad_value_in_env_file_is_reported(env, tmp_path):
    env_file = tmp_path / "settings.env"
    env_file.write_text(f"SECRET_KEY={SECRET}\nDEBUG=maybe\n")
    result = run_python(SETUP, env(ENV_FILE=str(env_file)))
    assert_config_errors(result, "DEBUG")


def test_env_file_that_does_not_exist_is_an_error(env, tmp_path):
    result = run_python(SETUP, env(SECRET_KEY=SECRET, ENV_FILE=str(tmp_path / "missing.env")))
    assert_config_errors(result, "ENV_FILE")


def test_debug_off_over_plain_http_is_served_without_redirect(env):
    result = run_python(GET_PING, env(SECRET_KEY=SECRET, DEBUG="false"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"status": 200, "location": None, "hsts": None}


def test_ssl_redirect_and_hsts_are_opt_in(env):
    result = run_python(
        GET_PING, env(SECRET_KEY=SECRET, DEBUG="false", SECURE_SSL_REDIRECT="true", SECURE_HSTS_SECONDS="3600")
    )
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["status"] == 301
    assert response["location"] == "https://127.0.0.1:8000/api/v1/ping/"


def test_behind_a_tls_proxy_https_requests_get_hsts_and_no_redirect(env):
    script = GET_PING.replace('.get("/api/v1/ping/")', '.get("/api/v1/ping/", HTTP_X_FORWARDED_PROTO="https")')
    result = run_python(
        script,
        env(
            SECRET_KEY=SECRET,
            SECURE_SSL_REDIRECT="true",
            SECURE_HSTS_SECONDS="3600",
            TRUST_X_FORWARDED_PROTO="true",
        ),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"status": 200, "location": None, "hsts": "max-age=3600"}


SHOW_PATHS = """
import django, json
django.setup()
from django.conf import settings
print(json.dumps({name: str(getattr(settings, name)) for name in ("SQLITE_PATH", "STATIC_ROOT", "BROKER_DIR")}))
"""


def test_blank_path_variables_mean_the_default(tmp_path):
    # As in .env.example copied to .env: blank must not resolve to the current directory.
    env = clean_env(SECRET_KEY=SECRET, SQLITE_PATH="", STATIC_ROOT="", BROKER_DIR="")
    result = run_python(SHOW_PATHS, env)
    assert result.returncode == 0, result.stderr
    paths = json.loads(result.stdout)
    assert paths == {
        "SQLITE_PATH": str(ROOT / "var" / "db.sqlite3"),
        "STATIC_ROOT": str(ROOT / "var" / "static"),
        "BROKER_DIR": str(ROOT / "var" / "broker"),
    }


def test_env_example_is_a_valid_env_file(env):
    # .env.example copied as is (plus a SECRET_KEY) starts.
    result = run_python(SHOW_PATHS, env(ENV_FILE=str(ROOT / ".env.example"), SECRET_KEY=SECRET))
    assert result.returncode == 0, result.stderr
