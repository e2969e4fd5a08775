"""The operators' admin in a real headless Chromium, against a real server, worker and PostgreSQL.

A throwaway PostgreSQL database is created and dropped around the module; the
web server (`manage.py runserver --noreload`, DEBUG off, static files collected
and served by WhiteNoise), a Celery worker and beat run as child processes with
the same environment. The browser logs in, creates a job from a phrase while
the preview updates, saves, runs it now and sees the run finish, then pauses
and resumes it from the list; watches the pages refresh themselves; and edits
and saves a job of each kind through its real page, uses the page's buttons and
deletes a copy in bulk. Screenshots of the job list, the form with its
preview, a job's page with its runs and audit trail, and the overview page go to
test-artifacts/screenshots/.

Needs /usr/bin/chromium (scripts/install_browser.sh) and the `playwright`
Python package (requirements-dev.txt); skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USERNAME = "operator"
PASSWORD = "e2e-" + secrets.token_urlsafe(12)
WAIT_MS = 15_000

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: run scripts/install_browser.sh (Debian's chromium package) for the browser tests",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package (requirements-dev.txt) is missing")
expect = sync_api.expect

# Extra jobs, so the list, the strip and the overview show more than one row.
SEED = """
from accounts.models import User
from jobs import services
owner = User.objects.get(username="operator")
for spec in [
    {"name": "heartbeat", "schedule": {"kind": "interval", "every": 10, "unit": "seconds"},
     "action": {"type": "task", "task": "heartbeat"}},
    {"name": "nightly-backup", "schedule": {"phrase": "daily at 02:30", "timezone": "Europe/Berlin"},
     "action": {"type": "http", "method": "POST", "url": "http://127.0.0.1:9/backup",
                "headers": {"Authorization": "Bearer e2e-secret"}}},
    {"name": "always-fails", "schedule": {"phrase": "every 15 seconds"},
     "action": {"type": "task", "task": "fail"}},
    {"name": "quarterly-cleanup", "schedule": {"kind": "cron", "cron": "0 3 1 */3 *", "timezone": "UTC"},
     "action": {"type": "task", "task": "echo"}, "enabled": False},
]:
    services.job_create(owner=owner, actor=owner, data=spec)
# A full strip of 20 past runs (the widest the list's history column gets), on a job that will not run
# during the test (daily at 02:30), so the layout check sees the worst case.
import uuid
from datetime import timedelta
from django.utils import timezone
from jobs.models import Job
Job.objects.filter(name="nightly-backup").update(recent_outcomes=[
    {"id": str(uuid.uuid4()), "status": "failed" if i % 3 else "succeeded",
     "at": (timezone.now() - timedelta(days=i)).isoformat()}
    for i in range(20)
])
"""


@pytest.fixture(autouse=True)
def _clean_cache() -> None:
    """Overrides the suite's per-test cache reset: this test uses no test database or cache of its own
    (the server under test has its own database), and Django refuses database calls while Playwright's
    event loop runs in this thread."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres_server() -> str:
    """The PostgreSQL server of this lane (its database name is replaced by a throwaway one)."""
    for name in ("DATABASE_URL", "TEST_PG_URL"):
        url = os.environ.get(name, "")
        if url.startswith(("postgres://", "postgresql://")):
            parts = urlsplit(url)
            return f"{parts.scheme}://{parts.netloc}"
    return "postgres://postgres@127.0.0.1:5432"


def _psql(server: str, sql: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=5) as connection:
        connection.execute(sql)


@dataclass
class Stack:
    url: str
    env: dict[str, str]
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    has_worker: bool = False

    def start(self, name: str, *args: str) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen(  # its own process group, so stop() reaches its children too
            args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes.append(process)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)

    def manage(self, *args: str) -> None:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"

    def log_tail(self) -> str:
        return "\n".join(
            f"--- {path.name} ---\n" + path.read_text(errors="replace")[-3000:] for path in self.logs.glob("*.log")
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("admin-e2e")
    server = _postgres_server()
    database = f"admin_e2e_{secrets.token_hex(4)}"
    try:
        _psql(server, f'CREATE DATABASE "{database}"')
    except Exception as exc:
        pytest.skip(f"PostgreSQL at {server} is not reachable for a throwaway database: {exc}")
    port = _free_port()
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if key in os.environ}
    env.update(
        DJANGO_SETTINGS_MODULE="scheduler_site.settings",
        ENV_FILE="",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
        DEBUG="false",
        SECRET_KEY="e2e-admin-secret-key-" + secrets.token_hex(24),
        DATABASE_URL=f"{server}/{database}",
        STATIC_ROOT=str(tmp / "static"),
        BROKER_DIR=str(tmp / "broker"),  # kombu's filesystem transport: private to this test
        CACHE_KEY_PREFIX=f"e2e-{database}",
        LOG_LEVEL="INFO",
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        # The seeded http job calls 127.0.0.1:9, as the demo calls this machine: allowed, like scripts/run.sh.
        JOBS_HTTP_ALLOWED_NETWORKS="127.0.0.1",
    )
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    for folder in ("logs", "broker/queue", "broker/processed"):
        (tmp / folder).mkdir(parents=True)
    logs = tmp / "logs"
    stack = Stack(url=f"http://127.0.0.1:{port}", env=env, logs=logs)
    try:
        stack.manage("migrate", "--noinput", "-v0")
        stack.manage("createcachetable")
        stack.manage("collectstatic", "--noinput", "-v0")
        stack.manage("createsuperuser", "--noinput", "--username", USERNAME, "--email", "operator@example.com")
        stack.manage("shell", "-c", SEED)
        stack.start("web", sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}")
        if (ROOT / "jobs" / "tasks.py").exists():
            celery = str(Path(sys.executable).with_name("celery"))
            stack.start("worker", celery, "-A", "scheduler_site", "worker", "--loglevel=INFO", "--concurrency=2")
            stack.start("beat", celery, "-A", "scheduler_site", "beat", "--loglevel=INFO", "--pidfile=")
            stack.has_worker = True
        deadline = time.monotonic() + 40
        while True:
            try:
                with urllib.request.urlopen(f"{stack.url}/admin/login/", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not answer within 40 s\n" + stack.log_tail()
            time.sleep(0.3)
        yield stack
    finally:
        stack.stop()
        try:
            _psql(server, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        except Exception as exc:  # pragma: no cover - reported, not fatal
            print(f"could not drop {database}: {exc}")


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, stack: Stack) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, base_url=stack.url)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # A script or style the Content-Security-Policy blocked is reported on the console only.
    page.on(
        "console",
        lambda message: errors.append(message.text) if "Content Security Policy" in message.text else None,
    )
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page: Any) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click('input[type="submit"]')
    expect(page.locator("#site-name")).to_contain_text("Scheduler administration")


def list_action(page: Any, job_name: str, action: str) -> None:
    page.goto("/admin/jobs/job/")
    row = page.locator("#result_list tbody tr", has=page.get_by_role("link", name=job_name, exact=True))
    row.locator("input.action-select").check()
    page.select_option('select[name="action"]', action)
    page.click('button[name="index"]')


def test_operator_creates_runs_pauses_and_resumes_a_job(page: Any, stack: Stack) -> None:
    log_in(page)

    # Create a job from a phrase; the preview follows the typing.
    page.goto("/admin/jobs/job/add/")
    page.fill("#id_name", "weekly-report")
    expect(page.locator(".form-row.field-cron")).to_be_hidden()  # phrase is the default kind
    page.fill("#id_timezone", "Europe/Berlin")
    page.fill("#id_phrase", "every monday at 09:00")
    preview = page.locator("#schedule-preview")
    expect(preview).to_contain_text("Every Monday at 09:00 (Europe/Berlin)")
    expect(preview.locator("li")).to_have_count(5)
    first = preview.locator("li").first.inner_text()
    assert re.match(r"Mon \d{4}-\d{2}-\d{2} 09:00 CES?T", first), first

    page.fill("#id_phrase", "every 15 minutes")
    expect(preview).to_contain_text("Every 15 minutes")
    page.fill("#id_phrase", "sometimes")
    expect(preview).to_contain_text('Could not understand "sometimes"')
    page.fill("#id_phrase", "every monday at 09:00")
    expect(preview).to_contain_text("Every Monday at 09:00 (Europe/Berlin)")

    page.locator('label[for="id_action_type_1"]').click()  # Task
    expect(page.locator(".form-row.field-http_method")).to_be_hidden()
    page.select_option("#id_task", "echo")
    page.fill("#id_task_kwargs", '{"report": "weekly"}')
    page.fill("#id_description", "Sends the weekly report every Monday morning, Berlin time.")
    screenshot(page, "job_form_preview")
    page.click('input[name="_save"]')
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    row = page.locator("#result_list tbody tr", has=page.get_by_role("link", name="weekly-report", exact=True))
    expect(row).to_contain_text("Every Monday at 09:00 (Europe/Berlin)")

    # Run it now from the list, then watch the run on the job's page.
    list_action(page, "weekly-report", "run_now")
    expect(page.locator(".messagelist")).to_contain_text("Queued a manual run of 1 job.")
    page.get_by_role("link", name="weekly-report", exact=True).click()
    runs = page.locator("#recent-runs tr.run-row")
    expect(runs).to_have_count(1)
    expect(runs.first).to_contain_text("Manual")
    if stack.has_worker:
        # The page refreshes its runs itself (jobs/static/jobs/live.js): no reload.
        page.evaluate("window.notReloaded = true")
        expect(runs.first).to_contain_text("succeeded", timeout=30_000)
        assert page.evaluate("window.notReloaded") is True
        expect(page.locator("#audit-trail")).to_contain_text("Run requested")
        # The job's summary is written just after the run's status: a refresh (every 5 s) between the two
        # shows the run succeeded and the squares not yet; the next one shows both.
        expect(page.locator("fieldset.job-state .run-square--succeeded")).to_have_count(1, timeout=15_000)
    else:
        expect(runs.first).to_contain_text("queued")
    screenshot(page, "job_page")

    # Pause and resume from the list.
    list_action(page, "weekly-report", "pause")
    expect(page.locator(".messagelist")).to_contain_text("Paused 1 job.")
    row = page.locator("#result_list tbody tr", has=page.get_by_role("link", name="weekly-report", exact=True))
    expect(row.locator(".job-paused")).to_be_visible()
    list_action(page, "weekly-report", "resume")
    expect(page.locator(".messagelist")).to_contain_text("Resumed 1 job.")
    row = page.locator("#result_list tbody tr", has=page.get_by_role("link", name="weekly-report", exact=True))
    expect(row.locator(".job-paused")).to_have_count(0)
    expect(row.locator("td.field-next_run")).to_contain_text("09:00 CE")  # the absolute time, Berlin time
    if stack.has_worker:
        expect(row.locator(".run-square--succeeded")).to_have_count(1)
        # Let beat's jobs (every 10 and 15 s) leave a few runs for the list's strip and the overview.
        time.sleep(12)
        page.reload()
    screenshot(page, "job_list")

    # The overview page.
    page.goto("/admin/overview/")
    expect(page.locator('[data-count="total"]')).to_have_text("5")
    expect(page.locator('[data-count="paused"]')).to_have_text("1")
    expect(page.locator("svg.runs-chart g.runs-chart-bar")).to_have_count(24)
    expect(page.locator("tr.upcoming-fire")).to_have_count(10)
    if stack.has_worker:
        expect(page.locator('[data-status="succeeded"]')).not_to_have_text("0")
    screenshot(page, "overview")


def test_the_list_and_overview_refresh_themselves_and_countdowns_tick(page: Any, stack: Stack) -> None:
    if not stack.has_worker:
        pytest.skip("needs the worker and beat to produce runs")
    log_in(page)
    page.goto("/admin/jobs/job/")
    page.evaluate("window.notReloaded = true")
    row = page.locator("#result_list tbody tr", has=page.get_by_role("link", name="heartbeat", exact=True))
    countdown = row.locator("[data-countdown]")
    before = countdown.inner_text()
    assert re.match(r"in \d+ seconds?|just now", before), before
    expect(countdown).not_to_have_text(before, timeout=3_000)  # ticks every second

    # Beat runs the 10-second heartbeat; its strip grows without a reload, and a selection survives it.
    squares = row.locator(".run-square").count()
    expect(row.locator(".run-square")).not_to_have_count(squares, timeout=30_000)
    assert page.evaluate("window.notReloaded") is True
    other = page.locator("#result_list tbody tr", has=page.get_by_role("link", name="nightly-backup", exact=True))
    other.locator("input.action-select").check()
    page.wait_for_timeout(6_000)  # a refresh interval: none while a row is selected
    expect(other.locator("input.action-select")).to_be_checked()
    expect(page.locator(".action-counter")).to_contain_text("1 of")

    page.goto("/admin/overview/")
    page.evaluate("window.notReloaded = true")
    expect(page.locator("body")).to_have_attribute("data-live-refreshed", re.compile(r"\d+"), timeout=10_000)
    assert page.evaluate("window.notReloaded") is True
    fire = page.locator("tr.upcoming-fire [data-countdown]").first
    text = fire.inner_text()
    expect(fire).not_to_have_text(text, timeout=3_000)


def open_job(page: Any, name: str) -> None:
    page.goto("/admin/jobs/job/")
    page.get_by_role("link", name=name, exact=True).click()
    expect(page.locator("#id_name")).to_have_value(name)


def save_job(page: Any, name: str) -> None:
    page.click('input[name="_save"]')
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    expect(page.locator(".errornote")).to_have_count(0)


def stored(stack: Stack, name: str, check: str) -> None:
    """Assert `check` (Python, with `job` bound) on the stored job, in the stack's own database."""
    stack.manage("shell", "-c", f"from jobs.models import Job; job = Job.objects.get(name={name!r}); assert {check}")


def test_operator_edits_and_saves_each_kind_of_job_through_its_page(page: Any, stack: Stack) -> None:
    log_in(page)

    # Interval, a task: change how often.
    open_job(page, "heartbeat")
    page.fill("#id_every", "20")
    save_job(page, "heartbeat")
    row = page.locator("#result_list tbody tr", has=page.get_by_role("link", name="heartbeat", exact=True))
    expect(row).to_contain_text("Every 20 seconds")

    # A phrase, an http action with a secret header: an unchanged save keeps the secret.
    open_job(page, "nightly-backup")
    expect(page.locator("#id_http_headers")).to_have_value("Authorization: ••••")
    page.fill("#id_description", "Backs the database up every night.")
    save_job(page, "nightly-backup")
    stored(stack, "nightly-backup", "job.http_headers == {'Authorization': 'Bearer e2e-secret'}")

    # Cron, paused: a new expression, a zone typed in lower case, and enabled again.
    open_job(page, "quarterly-cleanup")
    page.fill("#id_cron", "0 4 1 */3 *")
    page.fill("#id_timezone", "asia/tokyo")
    page.check("#id_enabled")
    save_job(page, "quarterly-cleanup")
    stored(stack, "quarterly-cleanup", "(job.cron, job.timezone, job.enabled) == ('0 4 1 */3 *', 'Asia/Tokyo', True)")

    # A phrase becomes a one-off (another kind), saved paused.
    open_job(page, "always-fails")
    page.locator(".schedule-fieldset label", has_text="Once").click()
    expect(page.locator("#id_at")).to_be_visible()
    page.fill("#id_at", "2031-01-01T09:00:00")
    page.fill("#id_timezone", "Europe/Berlin")
    page.uncheck("#id_enabled")
    save_job(page, "always-fails")
    stored(
        stack,
        "always-fails",
        "(job.schedule_kind, job.once_at.isoformat(), job.enabled) == ('once', '2031-01-01T08:00:00+00:00', False)",
    )

    # The buttons on a job's page, then a bulk delete of the copy.
    open_job(page, "heartbeat")
    page.click("button.job-tool-button--duplicate")
    expect(page.locator(".messagelist")).to_contain_text("Created 1 job (paused)")
    open_job(page, "heartbeat")
    page.click("button.job-tool-button--pause")
    expect(page.locator(".messagelist")).to_contain_text("Paused 1 job.")
    page.click("button.job-tool-button--resume")
    expect(page.locator(".messagelist")).to_contain_text("Resumed 1 job.")
    page.click("button.job-tool-button--run")
    expect(page.locator(".messagelist")).to_contain_text("Queued a manual run of 1 job.")
    list_action(page, "nightly-backup", "duplicate")  # the bulk form of Duplicate
    expect(page.locator(".messagelist")).to_contain_text("Created 1 job (paused)")
    list_action(page, "heartbeat (copy)", "delete_selected")
    page.click('input[type="submit"]')  # "Yes, I'm sure"
    expect(page.locator(".messagelist")).to_contain_text("Successfully deleted 1 job")
    expect(page.get_by_role("link", name="heartbeat (copy)", exact=True)).to_have_count(0)

    # django-celery-beat's task form runs its inline script under the CSP (with the request's nonce).
    page.goto("/admin/django_celery_beat/periodictask/add/")
    expect(page.locator("#id_name")).to_be_visible()


# What an operator cannot see without a horizontal scroll they may not notice: an element whose right
# edge passes the main column's, or (on a laptop) a box that scrolls sideways because its content is wider.
CLIPPED = """
(laptop) => {
  const out = [];
  const main = document.querySelector('#content') || document.body;
  const limit = main.getBoundingClientRect().right + 1;
  const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  for (const el of main.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    const name = `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${[...el.classList].join('.')}`;
    if (laptop && scrolls(el) && el.scrollWidth > el.clientWidth + 1) {
      out.push(`${name} scrolls: ${el.scrollWidth} > ${el.clientWidth}`);
    }
    let scroller = el.parentElement;
    while (scroller && scroller !== main && !scrolls(scroller)) scroller = scroller.parentElement;
    if (scroller && scroller !== main) continue;  // a phone may scroll a list sideways
    if (box.right > limit) out.push(`${name} right=${Math.round(box.right)} > ${Math.round(limit)}`);
  }
  return out.slice(0, 10);
}
"""

PAGES = {
    "job_list": "/admin/jobs/job/",
    "runs": "/admin/jobs/jobrun/",
    "overview": "/admin/overview/",
    "periodic_tasks": "/admin/django_celery_beat/periodictask/",
}


@pytest.mark.parametrize(("width", "height"), [(1440, 900), (390, 844)])
def test_nothing_is_cut_off_on_a_laptop_or_a_phone(browser: Any, stack: Stack, width: int, height: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=stack.url)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    laptop = width >= 1024
    try:
        log_in(page)
        page.goto("/admin/jobs/job/")
        job_page = page.get_by_role("link", name="heartbeat", exact=True).get_attribute("href")
        problems = {}
        for name, url in {**PAGES, "job_page": job_page}.items():
            page.goto(url)
            screenshot(page, f"{name}_{width}x{height}")
            clipped = page.evaluate(CLIPPED, laptop)
            if clipped:
                problems[name] = clipped
        assert not problems, problems
        # On a phone the lists may scroll sideways, but each row's status shows without scrolling.
        for url, status in (
            ("/admin/jobs/job/", "td.field-last_status_badge"),
            ("/admin/jobs/jobrun/", "td.field-status_badge"),
        ):
            page.goto(url)
            cell = page.locator(f"#result_list tbody tr {status}").first
            box = cell.bounding_box()
            assert box is not None and box["x"] + box["width"] <= width, (url, box)
    finally:
        context.close()


def test_the_main_pages_have_no_serious_accessibility_violations(page: Any, stack: Stack) -> None:
    axe = pytest.importorskip("axe_playwright_python.sync_playwright", reason="axe-playwright-python is missing").Axe()
    log_in(page)
    page.goto("/admin/jobs/job/")
    job_url = page.get_by_role("link", name="heartbeat", exact=True).get_attribute("href")
    problems = {}
    for name, url in {
        "job_list": "/admin/jobs/job/",
        "job_page": job_url,
        "add_form": "/admin/jobs/job/add/",
        "overview": "/admin/overview/",
    }.items():
        page.goto(url)
        violations = axe.run(page).response["violations"]
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
            for v in violations
            if v["impact"] in ("serious", "critical")
        ]
        if serious:
            problems[name] = serious
    assert not problems, "\n".join(f"{name}: {line}" for name, lines in problems.items() for line in lines)


def test_the_api_docs_render_under_the_content_security_policy(page: Any, stack: Stack) -> None:
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .information-container")).to_contain_text("Scheduler")
    expect(page.locator(".opblock-tag-section").first).to_be_visible()


def test_times_of_what_happened_show_in_the_viewers_zone_slots_in_the_jobs(browser: Any, stack: Stack) -> None:
    if not stack.has_worker:
        pytest.skip("needs runs")
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=stack.url, timezone_id="Asia/Tokyo")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        log_in(page)
        open_job(page, "weekly-report")  # Europe/Berlin, run by hand in the first test
        started = page.locator("#recent-runs tr.run-row time[data-viewer-zone]").first
        expect(started).to_contain_text("GMT+9")  # the viewer's zone (Tokyo), not the job's
        assert started.get_attribute("title").endswith(" UTC")
        audit = page.locator("#audit-trail time[data-viewer-zone]").first
        expect(audit).to_contain_text("GMT+9")
        next_run = page.locator("fieldset.job-state .field-next_run_detail time")
        expect(next_run).to_contain_text("09:00 CE")  # a slot: the job's own zone
    finally:
        context.close()
