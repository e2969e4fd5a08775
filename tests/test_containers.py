"""docker-compose.yml and the Dockerfile, checked against the code (no Docker engine here).

Every variable a service sets must be one the settings (or gunicorn.conf.py,
or the env reader itself) read, every variable the settings require must be
set, each service's environment must load the settings as they are, and every
module, file and command the containers name must exist.
"""

from __future__ import annotations

import ast
import json
import os
import re
import runpy
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from celery import Celery
from celery.app.utils import find_app
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
# Services that run the project's image (the others are MongoDB and Redis).
APP_SERVICES = sorted(name for name, service in SERVICES.items() if "build" in service)
# Services behind a profile are tools run on demand (`docker compose run --rm test`), not part of the stack.
TOOLS = sorted(name for name, service in SERVICES.items() if service.get("profiles"))
ONE_SHOT = sorted(name for name, service in SERVICES.items() if service.get("restart") == "no" and name not in TOOLS)
DOCKERFILE = (ROOT / "Dockerfile").read_text()
# Set by the Python base image and for pip: not the service's configuration.
IMAGE_VARIABLES = re.compile(r"^(PYTHON|PIP_)")
# What `docker compose up` is run with in these checks.
HOST_ENV = {"SECRET_KEY": "compose-check-secret-key-0123456789"}


# --- what the code reads --------------------------------------------------------------------


def _string_arg(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def settings_variables() -> set[str]:
    """Names the settings read: every `env.<type>("NAME", ...)` call in scheduler_site/settings.py."""
    tree = ast.parse((ROOT / "scheduler_site" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "env"
            and node.func.attr != "fail"
        ):
            name = _string_arg(node)
            if name:
                names.add(name)
    return names


def os_environ_variables(path: Path) -> set[str]:
    """Names a module reads with os.environ.get("X"), os.getenv("X") or os.environ["X"]."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = ast.unparse(node.func.value)
            if (owner, node.func.attr) in {("os.environ", "get"), ("os", "getenv")}:
                name = _string_arg(node)
                if name:
                    names.add(name)
        elif (
            isinstance(node, ast.Subscript)
            and ast.unparse(node.value) == "os.environ"
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            names.add(node.slice.value)
    return names


READ = (
    settings_variables()
    | os_environ_variables(ROOT / "gunicorn.conf.py")
    | os_environ_variables(ROOT / "scheduler_site" / "env.py")
)


def test_the_parsers_find_what_the_code_reads():
    assert {"SECRET_KEY", "MONGODB_URI", "REDIS_URL", "CELERY_BROKER_URL", "LOG_FORMAT", "METRICS_TOKEN"} <= READ
    assert {"WEB_WORKERS", "GUNICORN_BIND", "PROMETHEUS_MULTIPROC_DIR", "ENV_FILE"} <= READ


# --- compose interpolation --------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: Any, host: dict[str, str]) -> str:
    """A compose value as `docker compose` would expand it with the host environment `host`."""

    def expand(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        name, operator, argument = match[1], match[2], match[3]
        current = host.get(name)
        missing = current is None or (current == "" and operator and operator.startswith(":"))
        if operator and operator.endswith("?") and missing:
            raise LookupError(f"{name}: {argument}")
        if operator and operator.endswith("-") and missing:
            return argument
        return current or ""

    return _VARIABLE.sub(expand, str(value))


def service_environment(name: str, host: dict[str, str] = HOST_ENV) -> dict[str, str]:
    environment = SERVICES[name].get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: interpolate(value, host) for key, value in environment.items()}


def dockerfile_env() -> dict[str, str]:
    """ENV instructions of the final stage (key=value form, continuation lines joined)."""
    text = DOCKERFILE.replace("\\\n", " ")
    values: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip().startswith("ENV "):
            for item in shlex.split(line.strip()[4:]):
                key, _, value = item.partition("=")
                values[key] = value
    return values


def dockerfile_cmd() -> list[str]:
    match = re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.MULTILINE)
    assert match, "the Dockerfile has no exec-form CMD"
    return json.loads(match[1])


def command(name: str) -> list[str]:
    value = SERVICES[name]["command"]
    return value if isinstance(value, list) else shlex.split(value)


# --- environment ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_variable_a_service_sets_is_read(name):
    unread = set(service_environment(name)) - READ
    assert not unread, f"{name} sets {sorted(unread)}, which neither the settings nor gunicorn.conf.py read"


def test_every_variable_the_dockerfile_sets_is_read():
    unread = {key for key in dockerfile_env() if not IMAGE_VARIABLES.match(key)} - READ
    assert not unread


@pytest.mark.parametrize("name", APP_SERVICES)
def test_secret_key_is_required_from_the_host(name):
    # The settings refuse to start without SECRET_KEY (DEBUG is off); compose must refuse first.
    assert "SECRET_KEY" in service_environment(name)
    assert service_environment(name)["DEBUG"] == "false"
    with pytest.raises(LookupError, match="SECRET_KEY"):
        service_environment(name, host={})


def _load_settings(environment: dict[str, str]) -> dict[str, Any]:
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], 'cache': s.CACHES['default']['BACKEND'], "
        "'broker': s.CELERY_BROKER_URL, 'log_format': s.LOG_FORMAT, 'debug': s.DEBUG, "
        "'static_root': str(s.STATIC_ROOT)}))"
    )
    # Only what the container would have: the image's ENV, then the service's environment.
    env = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "scheduler_site.settings"}
    env.update(dockerfile_env())
    env.update(environment)
    env["STATIC_ROOT"] = str(ROOT / "var" / "static")  # /app/staticfiles exists only in the image
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_each_service_environment_loads_the_settings():
    environments = {json.dumps(service_environment(name), sort_keys=True): name for name in APP_SERVICES}
    for environment in environments:
        loaded = _load_settings(json.loads(environment))
        assert loaded["engine"] == "django_mongodb_backend"
        assert loaded["cache"] == "django_redis.cache.RedisCache"
        assert loaded["broker"].startswith("redis://redis:")
        assert loaded["log_format"] == "json"
        assert loaded["debug"] is False


def test_settings_refuse_a_service_environment_without_secret_key():
    environment = service_environment("web")
    del environment["SECRET_KEY"]
    env = {"PATH": os.environ["PATH"], **dockerfile_env(), **environment}
    result = subprocess.run(
        [sys.executable, "-c", "import scheduler_site.settings"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 78
    assert "SECRET_KEY" in result.stderr


def test_addresses_name_the_compose_services():
    environment = service_environment("web")
    assert re.match(r"^mongodb://mongo:27017/", environment["MONGODB_URI"])
    replica_set = re.search(r"replicaSet=(\w+)", environment["MONGODB_URI"])
    assert replica_set and replica_set[1] == command("mongo")[command("mongo").index("--replSet") + 1]
    assert environment["REDIS_URL"].startswith("redis://redis:6379/")
    assert environment["CELERY_BROKER_URL"].startswith("redis://redis:6379/")
    # The broker and the cache keep to separate Redis databases.
    assert environment["REDIS_URL"] != environment["CELERY_BROKER_URL"]


# --- commands and modules ----------------------------------------------------------------------


def _check_gunicorn(argv: list[str]) -> None:
    assert argv[0] == "gunicorn"
    module = argv[1].split(":")[0]
    callable_name = argv[1].split(":")[1] if ":" in argv[1] else "application"
    wsgi = __import__(module, fromlist=[callable_name])
    assert callable(getattr(wsgi, callable_name))
    config = argv[argv.index("--config") + 1]
    assert (ROOT / config).is_file()


def test_dockerfile_cmd_serves_the_wsgi_app_with_the_gunicorn_config():
    _check_gunicorn(dockerfile_cmd())


def test_web_runs_gunicorn_like_the_image():
    assert command("web") == dockerfile_cmd()
    _check_gunicorn(command("web"))


@pytest.mark.parametrize(("name", "subcommand"), [("worker", "worker"), ("beat", "beat")])
def test_celery_services_name_the_celery_app(name, subcommand):
    argv = command(name)
    assert argv[:2] == ["celery", "-A"]
    app = find_app(argv[2])  # what `celery -A <name>` resolves
    assert isinstance(app, Celery)
    assert argv[3] == subcommand


def test_migrate_runs_migrations_through_manage_py():
    argv = command("migrate")
    assert argv[:3] == ["python", "manage.py", "migrate"]
    assert (ROOT / "manage.py").is_file()
    assert "migrate" in get_commands()


def test_gunicorn_config_binds_the_published_port_and_keeps_access_log_off(monkeypatch):
    for name in os_environ_variables(ROOT / "gunicorn.conf.py"):
        monkeypatch.delenv(name, raising=False)
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert config["bind"] == "0.0.0.0:8000"
    assert "8000" in SERVICES["web"]["expose"]
    assert "EXPOSE 8000" in DOCKERFILE
    assert config["accesslog"] is None
    assert config["graceful_timeout"] > 0
    assert callable(config["child_exit"])  # marks dead workers for the metrics


# --- start order, replicas, health ---------------------------------------------------------------


def test_web_waits_for_healthy_mongo_and_redis_and_finished_migrations():
    depends = SERVICES["web"]["depends_on"]
    assert depends["mongo"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"
    assert depends["migrate"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize("name", ["worker", "beat"])
def test_worker_and_beat_also_wait_for_migrations(name):
    assert SERVICES[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_migrate_waits_for_healthy_databases_and_runs_once():
    assert ONE_SHOT == ["migrate"]
    depends = SERVICES["migrate"]["depends_on"]
    assert depends["mongo"]["condition"] == depends["redis"]["condition"] == "service_healthy"


def test_beat_runs_an_active_replica_and_a_standby():
    beat = SERVICES["beat"]
    assert beat["deploy"]["replicas"] == 2
    assert beat.get("scale", 2) == 2


@pytest.mark.parametrize("name", sorted(set(SERVICES) - set(ONE_SHOT) - set(TOOLS)))
def test_every_long_running_service_has_a_healthcheck(name):
    check = SERVICES[name].get("healthcheck")
    assert check and check["test"][0] in ("CMD", "CMD-SHELL") and len(check["test"]) > 1


def test_healthcheck_commands_exist():
    web = " ".join(SERVICES["web"]["healthcheck"]["test"])
    assert "/readyz" in web
    beat = SERVICES["beat"]["healthcheck"]["test"][1:]
    assert beat[:3] == ["python", "manage.py", "beat_health"]
    assert "beat_health" in get_commands()
    worker = interpolate(SERVICES["worker"]["healthcheck"]["test"][1], HOST_ENV)
    assert worker.startswith("celery -A scheduler_site inspect ping --destination celery@$HOSTNAME")


def test_the_test_service_runs_the_whole_suite_on_the_compose_mongodb():
    assert TOOLS == ["test"]
    test = SERVICES["test"]
    assert test["profiles"] == ["test"]  # `docker compose up` leaves it out
    assert test["depends_on"]["mongo"]["condition"] == test["depends_on"]["redis"]["condition"] == "service_healthy"
    environment = service_environment("test")
    assert environment["MONGODB_URI"] == service_environment("web")["MONGODB_URI"]
    assert environment["REDIS_URL"] != service_environment("web")["REDIS_URL"]  # the stack's cache is left alone
    script = command("test")[-1]
    assert 'TEST_MONGODB_URI="$$MONGODB_URI"' in script
    assert "python -m pytest -p tests.mongodb.live" in script
    assert (ROOT / "tests" / "mongodb" / "live.py").exists()


def test_mongo_is_a_single_node_replica_set_of_mongodb_7():
    assert SERVICES["mongo"]["image"] == "mongo:7"
    assert "--replSet" in command("mongo")
    assert "rs.initiate" in " ".join(SERVICES["mongo"]["healthcheck"]["test"])
    assert SERVICES["redis"]["image"].startswith("redis:7")


# --- the image ----------------------------------------------------------------------------------


def test_dockerfile_layers_and_user():
    lines = [line.strip() for line in DOCKERFILE.splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0] == "FROM python:3.11-slim"
    requirements = lines.index("COPY requirements.txt .")
    install = next(i for i, line in enumerate(lines) if line.startswith("RUN pip install -r requirements.txt"))
    code = lines.index("COPY . .")
    assert requirements < install < code  # dependencies in their own layer
    collect = next(i for i, line in enumerate(lines) if "collectstatic" in line)
    user = next(i for i, line in enumerate(lines) if line.startswith("USER "))
    assert code < collect < user
    assert lines[user] != "USER root"
    # The code's bytecode is compiled in the image, for every package the services run.
    compiled = next(line for line in lines if "compileall" in line).split()
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert code < lines.index(" ".join(compiled)) < user
    assert packages <= set(compiled), f"not compiled in the image: {packages - set(compiled)}"
    assert dockerfile_env()["ENV_FILE"] == ""


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".env", ".venv", "var/", ".git"} <= ignored


def test_every_variable_read_is_documented_in_env_example():
    documented = set(re.findall(r"^(\w+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    read = settings_variables() | os_environ_variables(ROOT / "gunicorn.conf.py")
    assert read - documented == set()


def test_only_nginx_is_published_and_it_reaches_web_with_the_repositorys_template():
    published = sorted(name for name, service in SERVICES.items() if service.get("ports"))
    assert published == ["nginx"]
    nginx = SERVICES["nginx"]
    assert nginx["ports"] == ["8000:8000"]
    assert nginx["environment"]["WEB_UPSTREAM"] == "web:8000"
    assert "./deploy/nginx:/etc/nginx/templates:ro" in nginx["volumes"]
    template = (ROOT / "deploy" / "nginx" / "default.conf.template").read_text()
    assert "${WEB_UPSTREAM}" in template and "${NGINX_PORT}" in template
    assert nginx["depends_on"]["web"]["condition"] == "service_healthy"
    # One proxy in front: DRF takes the client's address from nginx's X-Forwarded-For.
    assert service_environment("web")["NUM_PROXIES"] == "1"
