"""Scheduler benchmark: the project's beat scheduler against stock django-celery-beat.

    .venv/bin/python bench/scheduler_bench.py                      # N = 1,000, 10,000, 100,000
    .venv/bin/python bench/scheduler_bench.py --jobs 1000 --duration 60
    JOBS_BEAT_PARTITIONS=4 .venv/bin/python bench/scheduler_bench.py --beats 2   # two beats sharing the jobs

For each N: a throwaway PostgreSQL database (`bench_sched`, made from a
migrated template), N jobs of the seeded mix (`bench/sched_mix.py`), the real
`celery -A scheduler_site beat` with the project's scheduler class (a
subclass that only times ticks: `bench/sched_beat.py`), a recorder that drains
the Redis queue and runs nothing (`bench/sched_record.py`) and an editor
making 5 schedule edits per second through `services.job_update`
(`bench/sched_edit.py`), for --duration seconds. Then the same with the stock
`DatabaseScheduler` firing the jobs' mirror PeriodicTasks (N <= --baseline-max,
bounded by --baseline-duration), and a burst of --burst jobs due in the same
second for each scheduler. Results: a table on stdout and JSON in
bench/results/scheduler-<N>.json and scheduler-burst.json.

Not part of the test suite. Traffic goes to 127.0.0.1 only; every process it
starts is stopped (by process group) in a finally block.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
PY = str(ROOT / ".venv" / "bin" / "python")
CELERY = str(ROOT / ".venv" / "bin" / "celery")
PG = "postgres://postgres@127.0.0.1:5432"
DB_NAME = "bench_sched"
TEMPLATE = "bench_sched_tpl"
PROJECT = "bench.sched_beat:BenchJobScheduler"
STOCK = "bench.sched_beat:BenchStockScheduler"
# Edits this close to a slot (before the edit started, or during it) may
# legitimately take the slot away: the slot was due but not yet claimed.
EDIT_RACE_SECONDS = 5.0
DRAIN_SECONDS = 10.0
READY_TIMEOUT = 900.0
TARGETS = {"p99_lateness_s": 1.0, "beat_peak_rss_mb": 300.0, "burst_all_dispatched_s": 5.0}


# --- processes ---------------------------------------------------------------


class Proc:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready after {timeout} s:\n{self.output()[-3000:]}")
            time.sleep(0.1)

    def stop(self, timeout: float = 15) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)


def proc_status(pid: int, key: str) -> int | None:
    """A /proc/<pid>/status value in kB (VmRSS, VmHWM)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, int]] = []
        self.hwm_kb: int | None = None
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(1.0):
            rss = proc_status(self.pid, "VmRSS")
            hwm = proc_status(self.pid, "VmHWM")
            if rss is None:
                return
            self.samples.append((time.time(), rss))
            self.hwm_kb = hwm or self.hwm_kb

    def finish(self) -> None:
        hwm = proc_status(self.pid, "VmHWM")
        self.hwm_kb = hwm or self.hwm_kb
        self.halt.set()


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=True, text=True, capture_output=True, **kwargs)


# --- database --------------------------------------------------------------------


def base_env(args: argparse.Namespace) -> dict[str, str]:
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    env.update(
        DJANGO_SETTINGS_MODULE="scheduler_site.settings",
        ENV_FILE="",
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONPATH=str(ROOT),
        SECRET_KEY="bench-secret-key-" + "x" * 40,
        DATABASE_URL=f"{PG}/{DB_NAME}",
        REDIS_URL=f"redis://127.0.0.1:6379/{args.cache_db}",
        CELERY_BROKER_URL=broker_url(args),
        LOG_LEVEL="INFO",
    )
    # The scheduler's own settings (e.g. JOBS_BEAT_LOOKAHEAD_SECONDS=30) pass through, recorded in the JSON.
    env.update(job_settings())
    return env


def job_settings() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key.startswith("JOBS_")}


def broker_url(args: argparse.Namespace) -> str:
    return f"redis://127.0.0.1:6379/{args.broker_db}"


def make_template(env: dict[str, str]) -> None:
    # The code's bytecode, compiled as the image compiles it (Dockerfile): the processes run with
    # PYTHONDONTWRITEBYTECODE, so in a fresh clone every beat would compile the project at its start.
    run([PY, "-m", "compileall", "-q", "-j", "0", "accounts", "jobs", "scheduler_site", "bench"], cwd=ROOT)
    run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", TEMPLATE])
    run(["createdb", "-h", "127.0.0.1", "-U", "postgres", TEMPLATE])
    run([PY, "manage.py", "migrate", "--noinput"], cwd=ROOT, env={**env, "DATABASE_URL": f"{PG}/{TEMPLATE}"})


def fresh_database() -> None:
    from django.db import connections

    connections.close_all()
    run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", DB_NAME])
    run(["createdb", "-h", "127.0.0.1", "-U", "postgres", "-T", TEMPLATE, DB_NAME])


def drop_databases() -> None:
    from django.db import connections

    connections.close_all()
    for name in (DB_NAME, TEMPLATE):
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", name], check=False)


def flush_redis(args: argparse.Namespace) -> None:
    import redis

    for db in (args.cache_db, args.broker_db):
        client = redis.Redis(host="127.0.0.1", port=6379, db=db)
        client.flushdb()
        client.close()


def _enabled_jobs() -> int:
    from jobs.models import Job

    return Job.objects.filter(enabled=True).count()


def refresh_next_run_at(now: datetime) -> int:
    """Every job at its next slot after `now`, as a running beat would have left it."""
    from jobs import services
    from jobs.models import Job

    changed = []
    for job in (
        Job.objects.filter(enabled=True)
        .only("id", "enabled", "next_run_at", *Job.SCHEDULE_FIELDS)
        .iterator(chunk_size=5_000)
    ):
        upcoming = services.compute_next_run_at(job, after=now)
        if upcoming != job.next_run_at:
            job.next_run_at = upcoming
            changed.append(job)
    Job.objects.bulk_update(changed, ["next_run_at"], batch_size=5_000)
    return len(changed)


# --- one phase: beat + recorder (+ editor) -------------------------------------------


def run_phase(
    args: argparse.Namespace,
    *,
    label: str,
    scheduler: str,
    workdir: Path,
    duration: float,
    edits: bool,
    until: float | None = None,
    stop_when: Any = None,
) -> dict[str, Any]:
    """Start recorder and beat, optionally the editor, and run for `duration` s from beat's start.

    Every job's `next_run_at` is set to its next slot right before beat is spawned (as a beat
    stopped a moment ago would have left it), and the window starts when beat is spawned: its
    start-up (imports, the stock entries, its first passes) is measured, not hidden.

    With --deploy-after S (the project's scheduler only): a deploy, as it happens. A first beat
    is spawned instead and runs S seconds (catching up, claiming ahead), is stopped with SIGTERM,
    and the measured beat is spawned when it has exited; the window starts at the SIGTERM, so
    the gap between the two beats is inside it.
    """
    env = base_env(args)
    flush_redis(args)
    records, stats, edit_log = workdir / f"{label}-records.tsv", workdir / f"{label}-ticks.jsonl", None
    procs: list[Proc] = []
    out: dict[str, Any] = {"label": label, "scheduler": scheduler}
    sampler = None
    deploy_after = args.deploy_after if scheduler == PROJECT and until is None else None
    other_samplers: list[RssSampler] = []
    try:
        recorder = Proc(
            "recorder",
            [
                PY,
                str(BENCH / "sched_record.py"),
                "--broker",
                broker_url(args),
                "--out",
                str(records),
                "--max-seconds",
                str(duration + READY_TIMEOUT + 300),
            ]
            + (["--finish-runs"] if scheduler == PROJECT else []),
            env,
            workdir / f"{label}-recorder.log",
        )
        procs.append(recorder)
        recorder.wait_for("recorder ready", 60)
        # As a beat stopped at `restart` would have left the jobs: each at its first slot after it.
        # Refreshing 100,000 jobs takes tens of seconds, so `restart` is set that far ahead and
        # beat is spawned then; slots before it belong to the beat that "stopped", not this one.
        began = time.time()
        restart = began + (args.restart_lead if args.restart_lead is not None else 5 + _enabled_jobs() / 2_000)
        if args.boundary_at is not None and until is None:
            # Put the next */5 minute boundary (a sixth of the jobs fire on it) this far into the window.
            boundary = math.ceil((restart + (deploy_after or 0) + args.boundary_at) / 300) * 300
            restart = boundary - args.boundary_at - (deploy_after or 0)
            out["boundary_at"] = datetime.fromtimestamp(boundary, UTC).isoformat()
        out["refreshed_jobs"] = refresh_next_run_at(datetime.fromtimestamp(restart, UTC))
        out["refresh_s"] = round(time.time() - began, 1)
        if time.time() > restart:
            out["refresh_overran_s"] = round(time.time() - restart, 1)
            overran = out["refresh_overran_s"]
            print(f"  [{label}] warning: the refresh overran the restart instant by {overran} s", flush=True)
        time.sleep(max(0.0, restart - time.time()))
        beat_argv = [CELERY, "-A", "scheduler_site", "beat", "--loglevel=INFO", "--pidfile=", "--scheduler", scheduler]
        stopped = None
        if deploy_after:
            before = Proc(
                "beat-before",
                beat_argv,
                {**env, "BENCH_STATS_FILE": str(workdir / f"{label}-ticks-before.jsonl")},
                workdir / f"{label}-beat-before.log",
            )
            procs.append(before)
            time.sleep(deploy_after)
            if before.popen.poll() is not None:
                raise RuntimeError(f"the first beat exited:\n{before.output()[-3000:]}")
            stopped = time.time()
            before.popen.send_signal(signal.SIGTERM)  # as a deploy stops it: it ends its pass, releases its lease
            before.popen.wait(60)
            out["deploy"] = {"first_beat_ran_s": deploy_after, "first_beat_exit_s": round(time.time() - stopped, 2)}
        spawned = time.time()
        beat = Proc("beat", beat_argv, {**env, "BENCH_STATS_FILE": str(stats)}, workdir / f"{label}-beat.log")
        procs.append(beat)
        # --beats N: more beats of the project's scheduler, sharing the jobs by partition when
        # JOBS_BEAT_PARTITIONS (passed through) is above 1, else standing by. The window, the
        # readiness and the tick statistics stay the first beat's; each beat's RSS is sampled.
        others = []
        if scheduler == PROJECT:
            for i in range(2, args.beats + 1):
                others.append(
                    Proc(
                        f"beat-{i}",
                        beat_argv,
                        {**env, "BENCH_STATS_FILE": str(workdir / f"{label}-ticks-{i}.jsonl")},
                        workdir / f"{label}-beat-{i}.log",
                    )
                )
            procs.extend(others)
        other_samplers += [RssSampler(other.pid) for other in others]
        for other_sampler in other_samplers:
            other_sampler.start()
        out["beats"] = 1 + len(others)
        sampler = RssSampler(beat.pid)
        sampler.start()
        deadline = time.monotonic() + READY_TIMEOUT
        while not (stats.exists() and stats.stat().st_size > 0):
            if beat.popen.poll() is not None:
                raise RuntimeError(f"beat exited:\n{beat.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("beat did not tick")
            time.sleep(0.1)
        ready = time.time()
        out["beat_startup_s"] = round(ready - spawned, 2)
        out["first_tick"] = ready
        print(
            f"  [{label}] next_run_at refreshed in {out['refresh_s']} s; beat ticking {out['beat_startup_s']} s after"
            " its spawn",
            flush=True,
        )
        w0 = stopped if stopped is not None else spawned
        if edits:
            edit_log = workdir / f"{label}-edits.jsonl"
            editor = Proc(
                "editor",
                [
                    PY,
                    str(BENCH / "sched_edit.py"),
                    "--rate",
                    str(args.edit_rate),
                    "--duration",
                    str(duration),
                    "--seed",
                    str(args.seed),
                    "--out",
                    str(edit_log),
                ],
                env,
                workdir / f"{label}-editor.log",
            )
            procs.append(editor)
        end = until if until is not None else w0 + duration
        killed: set[str] = set()
        kill_at = w0 + args.kill_active_after if args.kill_active_after is not None and others else None
        while time.time() < end:
            if kill_at is not None and time.time() >= kill_at:
                kill_at = None
                out["failover"] = kill_active([beat, *others])
                killed.add(out["failover"]["killed"])
                print(f"  [{label}] failover: {out['failover']}", flush=True)
            for other in others:
                if other.name not in killed and other.popen.poll() is not None:
                    raise RuntimeError(f"{other.name} exited:\n{other.output()[-3000:]}")
            if beat.name not in killed and beat.popen.poll() is not None:
                # Stock django-celery-beat 2.9.0 can die under the edit load
                # (see "Baseline" in bench/README.md). Record it, end the
                # window there and analyze what was sent; never hide it.
                tail = beat.output()[-2000:]
                out["beat_crashed"] = {"after_s": round(time.time() - w0, 1), "output_tail": tail}
                last = [line for line in tail.splitlines() if line.strip(" ^")][-1:] or ["?"]
                after = out["beat_crashed"]["after_s"]
                print(f"  [{label}] WARNING: beat exited after {after} s: {last[0]}", flush=True)
                end = time.time()
                break
            if stop_when is not None and stop_when(records):
                break
            time.sleep(0.5)
        w1 = min(time.time(), end)
        if edits:
            editor.stop(timeout=10)
        time.sleep(DRAIN_SECONDS if until is None else 1)
        sampler.finish()
        for other_sampler in other_samplers:
            other_sampler.finish()
        out.update(w0=w0, w1=w1, beat_peak_rss_mb=round((sampler.hwm_kb or 0) / 1024, 1))
        if others:
            out["other_beats_peak_rss_mb"] = [round((each.hwm_kb or 0) / 1024, 1) for each in other_samplers]
        rss = [kb for _, kb in sampler.samples]
        out["beat_rss_end_mb"] = round(rss[-1] / 1024, 1) if rss else None
        out["beat_log_mirror_resync"] = [
            line for line in beat.output().splitlines() if "beat mirror re-synced" in line
        ][:3]
    finally:
        if sampler is not None:
            sampler.halt.set()
        for other_sampler in other_samplers:
            other_sampler.halt.set()
        for proc in reversed(procs):
            if proc.name == "recorder":
                time.sleep(2)  # let it write what it received
            proc.stop()
    out["records"] = str(records)
    out["ticks"] = str(stats)
    out["edits"] = str(edit_log) if edit_log else None
    return out


# --- analysis --------------------------------------------------------------------------


class Record(NamedTuple):
    task: str
    job_id: str
    slot: str
    published: float | None
    received: float
    eta: float | None  # the message's ETA (a slot claimed ahead), as a timestamp
    started: bool | None  # whether the message started its run (None: the recorder did not start runs)
    pending: bool = False  # its ETA had not come when the recorder stopped (so it started nothing)

    @property
    def sent_at(self) -> float:
        return self.published or self.received

    @property
    def startable_at(self) -> float:
        """When a worker could start it: published, and its ETA come."""
        return max(self.sent_at, self.eta) if self.eta is not None else self.sent_at


def read_records(path: Path) -> list[Record]:
    rows = []
    if not path.exists():
        return rows
    for line in path.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) < 5:
            continue
        task, job_id, slot, published, received = parts[:5]
        eta = parts[5] if len(parts) > 5 else ""
        started = parts[6] if len(parts) > 6 else ""
        rows.append(
            Record(
                task,
                job_id,
                slot,
                float(published) if published else None,
                float(received),
                datetime.fromisoformat(eta).timestamp() if eta else None,
                None if started == "" else started == "1",
                started == "-",
            )
        )
    return rows


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def tick_stats(path: Path, w0: float, w1: float, project: bool) -> dict[str, Any]:
    ticks = []
    for line in path.read_text().splitlines() if path.exists() else []:
        with contextlib.suppress(ValueError):
            ticks.append(json.loads(line))
    window = [t for t in ticks if w0 <= t["t"] <= w1]
    if project:
        quiet = [t["jobs_ms"] for t in window if t.get("jobs_ms") is not None and t["sent"] == 0]
    else:
        quiet = [t["ms"] for t in window if t["sent"] == 0 and t.get("reload_ms") is None]
    reloads = [t["reload_ms"] for t in window if t.get("reload_ms") is not None]
    return {
        "ticks": len(window),
        "quiet_ticks": len(quiet),
        "quiet_tick_ms_p50": r3(pct(quiet, 0.5)),
        "quiet_tick_ms_p99": r3(pct(quiet, 0.99)),
        "reloads": len(reloads),
        "reload_ms_p50": r3(pct(reloads, 0.5)),
        "reload_ms_max": r3(max(reloads) if reloads else None),
        "entries_loaded": max((t.get("entries") or 0 for t in window), default=0),
        "reload_races": max((t.get("reload_races") or 0 for t in ticks), default=0),
    }


def r3(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def load_timelines(edit_path: Path | None) -> dict[str, list[dict[str, Any]]]:
    edits: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if edit_path and edit_path.exists():
        for line in edit_path.read_text().splitlines():
            record = json.loads(line)
            edits[record["job_id"]].append(record)
    return edits


def expected_slots(w0: float, w1: float, edit_path: Path | None) -> tuple[set[tuple[str, datetime]], set[Any], int]:
    """(certain slots, edit-raced slots, edits) for every job over (w0, w1], following the edit log."""
    from jobs import schedules
    from jobs.models import Job

    edits = load_timelines(edit_path)
    start, end = datetime.fromtimestamp(w0, UTC), datetime.fromtimestamp(w1, UTC)
    certain: set[tuple[str, datetime]] = set()
    raced: set[tuple[str, datetime]] = set()
    race = timedelta(seconds=EDIT_RACE_SECONDS)
    for job in (
        Job.objects.filter(name__startswith="bench-")
        .only("id", "enabled", "next_run_at", *Job.SCHEDULE_FIELDS)
        .iterator(chunk_size=5_000)
    ):
        key = str(job.pk)
        segments: list[tuple[schedules.Schedule, datetime, datetime, datetime | None]] = []
        seg_start, current = start, None
        for edit in sorted(edits.get(key, []), key=lambda e: e["t0"]):
            t0, t1 = datetime.fromtimestamp(edit["t0"], UTC), datetime.fromtimestamp(edit["t1"], UTC)
            old = current or schedules.from_dict(edit["old"])
            segments.append((old, seg_start, t0, t1))
            current, seg_start = schedules.from_dict(edit["new"]), t1
        segments.append((current or job.schedule, seg_start, end, None))
        for sched, a, b, b_end in segments:
            if not job.enabled or a >= end:
                continue
            b_clip = min(b, end)
            for slot in schedules.slots_between(sched, start=a, end=b_clip, limit=100_000):
                slot = slot.astimezone(UTC)
                if b_end is not None and slot > b - race:
                    raced.add((key, slot))
                else:
                    certain.add((key, slot))
            if b_end is not None and b_end > b:
                # slots of the old schedule during the service call are raced too
                for slot in schedules.slots_between(sched, start=b_clip, end=min(b_end, end), limit=1000):
                    raced.add((key, slot.astimezone(UTC)))
    return certain, raced, sum(len(v) for v in edits.values())


#: The window's first seconds, from beat's spawn, reported apart from the steady state after them.
STARTUP_SECONDS = 60.0


def analyze_project(phase: dict[str, Any]) -> dict[str, Any]:
    """The window from beat's spawn, and apart: its first STARTUP_SECONDS and the steady state after."""
    w0, w1 = phase["w0"], phase["w1"]
    rows = read_records(Path(phase["records"]))
    messages = [r for r in rows if r.task == "jobs.run_job" and r.slot]
    # A message that did not start its run (withdrawn by an edit before its slot, or a second
    # message for a slot claimed again) is not a dispatch; a worker runs nothing for it.
    runs = [r for r in messages if r.started is not False]
    start, end = datetime.fromtimestamp(w0, UTC), datetime.fromtimestamp(w1, UTC)
    counts: Counter[tuple[str, datetime]] = Counter()
    late: dict[tuple[str, datetime], float] = {}
    ahead: dict[tuple[str, datetime], float] = {}
    for r in runs:
        key = (r.job_id, datetime.fromisoformat(r.slot).astimezone(UTC))
        counts[key] += 1
        if start < key[1] <= end:
            # Late = startable after its slot: published late, or (claimed ahead) its ETA late.
            late[key] = min(late.get(key, math.inf), r.startable_at - key[1].timestamp())
            ahead[key] = max(ahead.get(key, -math.inf), key[1].timestamp() - r.sent_at)
    certain, raced, n_edits = expected_slots(w0, w1, Path(phase["edits"]) if phase.get("edits") else None)
    in_window = {k for k in counts if start < k[1] <= end}
    split = min(end, start + timedelta(seconds=STARTUP_SECONDS))

    def part(a: datetime, b: datetime) -> dict[str, Any]:
        keys = {k for k in in_window if a < k[1] <= b}
        expected = {k for k in certain if a < k[1] <= b}
        lateness = [late[k] for k in keys]
        return {
            "window": [a.isoformat(timespec="seconds"), b.isoformat(timespec="seconds")],
            "slots_expected": len(expected),
            "dispatched": sum(counts[k] for k in keys),
            "missed": len(expected - keys),
            "lateness_p50_s": r3(pct(lateness, 0.5)),
            "lateness_p99_s": r3(pct(lateness, 0.99)),
            "lateness_max_s": r3(max(lateness) if lateness else None),
            "late_over_1s": sum(1 for v in lateness if v > 1.0),
        }

    missed = certain - in_window
    unexpected = in_window - certain - raced
    duplicated = sum(c - 1 for k, c in counts.items() if c > 1)
    lateness = list(late.values())
    return {
        "slots_expected": len(certain),
        "slots_edit_raced": len(raced),
        "slots_edit_raced_fired": len(raced & in_window),
        "dispatched_in_window": sum(counts[k] for k in in_window),
        "missed": len(missed),
        "duplicated": duplicated,
        "unexpected": len(unexpected),
        "missed_examples": [f"{j} {s.isoformat()}" for j, s in sorted(missed)[:5]],
        "unexpected_examples": [f"{j} {s.isoformat()}" for j, s in sorted(unexpected)[:5]],
        "edits": n_edits,
        "lateness_p50_s": r3(pct(lateness, 0.5)),
        "lateness_p99_s": r3(pct(lateness, 0.99)),
        "lateness_max_s": r3(max(lateness) if lateness else None),
        "startup": part(start, split),
        "steady": part(split, end),
        "published_before_slot_p50_s": r3(pct(list(ahead.values()), 0.5)),
        "published_before_slot_min_s": r3(min(ahead.values()) if ahead else None),
        # Withdrawn claims (an edit before the slot) and second messages for a slot claimed again.
        "messages_not_starting_a_run": sum(1 for r in messages if r.started is False and not r.pending),
        "messages_pending_at_stop": sum(1 for r in messages if r.pending),
        "dispatch_rate_per_s": round(sum(counts[k] for k in in_window) / max(1e-9, w1 - w0), 1),
        "other_messages": Counter(r.task for r in rows if r.task != "jobs.run_job"),
        **recorder_check(phase, messages),
        **tick_stats(Path(phase["ticks"]), w0, w1, project=True),
    }


def kill_active(beats: list[Proc]) -> dict[str, Any]:
    """SIGKILL the beat holding the lease (partition 0's when the jobs are partitioned): a failover."""
    from jobs.beat import partitions
    from jobs.models import BeatLease

    count = int(os.environ.get("JOBS_BEAT_PARTITIONS", "1"))
    row = BeatLease.objects.filter(name=partitions.lease_name(0, count)).first()
    holder = row.holder if row is not None else ""
    pid = int(holder.split(":")[1]) if holder.count(":") >= 2 else None  # "host:pid:suffix"
    victim = next((each for each in beats if each.pid == pid), None)
    if victim is None:
        return {"killed": None, "holder": holder}
    at = time.time()
    os.killpg(victim.pid, signal.SIGKILL)
    return {"killed": victim.name, "holder": holder, "at": at}


def recorder_check(phase: dict[str, Any], messages: list[Record]) -> dict[str, Any]:
    """Whether the recorder kept up: slot messages the beats sent (their tick logs) against those it read.

    A message still in the queue when the recorder stopped is not recorded, and the harness then counts
    its slot missed although beat sent it: with two beats on two cores the recorder fell 40-60 s behind.
    """
    ticks = Path(phase["ticks"])
    files = [ticks, *sorted(ticks.parent.glob(ticks.name.replace("-ticks.jsonl", "-ticks-*.jsonl")))]
    sent = 0
    for path in files:
        if path.exists() and not path.name.endswith("-ticks-before.jsonl"):
            sent += sum(json.loads(line).get("sent") or 0 for line in path.read_text().splitlines() if line)
    lag = [r.received - r.published for r in messages if r.published is not None]
    out = {
        "slot_messages_sent_by_beats": sent,
        "slot_messages_recorded": len(messages),
        "recorder_lag_p50_s": r3(pct(lag, 0.5)),
        "recorder_lag_max_s": r3(max(lag) if lag else None),
    }
    if sent > len(messages) and lag and max(lag) > 5:
        out["warning"] = (
            f"the recorder read {len(messages)} of the {sent} slot messages the beats sent and fell up to "
            f"{max(lag):.0f} s behind: slots counted missed may have been sent and not read"
        )
    return out


def analyze_stock(phase: dict[str, Any], expected: set[tuple[str, datetime]]) -> dict[str, Any]:
    """The stock scheduler's messages carry no slot: count them per job against the job's slots in the
    window (missed = slots beyond a job's dispatches, extra = dispatches beyond its slots), and time the
    cron ones against their slot (its intervals run from the last send, not from an anchor)."""
    from jobs import schedules
    from jobs.models import Job

    w0, w1 = phase["w0"], phase["w1"]
    rows = read_records(Path(phase["records"]))
    runs = [r for r in rows if r.task == "jobs.run_job" and w0 <= r.sent_at <= w1]
    jobs = {
        str(j.pk): j.schedule
        for j in Job.objects.filter(name__startswith="bench-")
        .only("id", "enabled", "next_run_at", *Job.SCHEDULE_FIELDS)
        .iterator(chunk_size=5_000)
    }
    edits = load_timelines(Path(phase["edits"]) if phase.get("edits") else None)
    lateness = []
    for r in runs:
        job_id, at = r.job_id, r.sent_at
        sched = jobs.get(job_id)
        for edit in sorted(edits.get(job_id, []), key=lambda e: e["t0"], reverse=True):
            if edit["t1"] > at:
                sched = schedules.from_dict(edit["old"])
        if sched is None or sched.kind != "cron":
            continue
        moment = datetime.fromtimestamp(at, UTC)
        slots = schedules.slots_between(sched, start=moment - timedelta(days=1), end=moment, limit=2_000)
        if slots:
            lateness.append(at - slots[-1].timestamp())
    per_job_expected = Counter(job_id for job_id, _ in expected)
    per_job_sent = Counter(r.job_id for r in runs)
    jobs_all = set(per_job_expected) | set(per_job_sent)
    return {
        "slots_expected": len(expected),
        "missed": sum(max(0, per_job_expected[j] - per_job_sent[j]) for j in jobs_all),
        "extra": sum(max(0, per_job_sent[j] - per_job_expected[j]) for j in jobs_all),
        "dispatched_in_window": len(runs),
        "dispatched_distinct_jobs": len({r.job_id for r in runs}),
        "dispatch_rate_per_s": round(len(runs) / max(1e-9, w1 - w0), 1),
        "cron_lateness_p50_s": r3(pct(lateness, 0.5)),
        "cron_lateness_p99_s": r3(pct(lateness, 0.99)),
        "cron_dispatches": len(lateness),
        "edits": sum(len(v) for v in edits.values()),
        **tick_stats(Path(phase["ticks"]), w0, w1, project=False),
    }


def analyze_burst(phase: dict[str, Any], at: float, n: int) -> dict[str, Any]:
    rows = [r for r in read_records(Path(phase["records"])) if r.task == "jobs.run_job" and r.started is not False]
    # Dispatched = startable: published and (for a slot claimed ahead) its ETA come. Relative to the slot.
    times = sorted(r.startable_at - at for r in rows)
    published = sorted(r.sent_at - at for r in rows)
    done = len(times) >= n
    return {
        "jobs": n,
        "dispatched": len(times),
        "first_s": r3(times[0]) if times else None,
        "all_dispatched_s": r3(times[n - 1]) if done else None,
        "p50_s": r3(pct(times, 0.5)),
        "first_published_s": r3(published[0]) if published else None,
        "last_published_s": r3(published[n - 1]) if done else None,
        "bound_s": round(phase["w1"] - at, 1),
        # Publishing rate, over the span from the first publish to the last.
        "rate_per_s": round(len(published) / max(1e-3, published[-1] - published[0]), 1) if published else 0,
        "beat_peak_rss_mb": phase["beat_peak_rss_mb"],
    }


# --- runs ----------------------------------------------------------------------------------


def seed_jobs(args: argparse.Namespace, n: int) -> dict[str, Any]:
    from bench.sched_mix import expected_rate, make_specs
    from bench.sched_seed import seed, verify

    fresh_database()
    now = datetime.now(UTC).replace(microsecond=0)
    specs = make_specs(n, seed=args.seed, now=now)
    mode = args.seed_mode if args.seed_mode != "auto" else ("services" if n <= 1_000 else "bulk")
    info = seed(specs, mode=mode, now=now)
    info["verify"] = verify(now=now)
    info["mix_slots_per_s"] = round(expected_rate(specs), 1)
    print(f"  seeded {n} jobs via {mode} in {info['seconds']} s: {info['verify']}", flush=True)
    return info


def bench_n(args: argparse.Namespace, n: int, workdir: Path) -> dict[str, Any]:
    print(f"\n== {n:,} jobs ==", flush=True)
    result: dict[str, Any] = {"jobs": n, "seed": seed_jobs(args, n)}
    phase = run_phase(
        args, label=f"project-{n}", scheduler=PROJECT, workdir=workdir, duration=args.duration, edits=True
    )
    result["project"] = {**_phase_summary(phase), **analyze_project(phase)}
    _print_row("project", result["project"])
    if n <= args.baseline_max:
        # Same jobs, re-seeded, so both schedulers start from the same state.
        seed_jobs(args, n)
        phase = run_phase(
            args, label=f"stock-{n}", scheduler=STOCK, workdir=workdir, duration=args.baseline_duration, edits=True
        )
        expected, _, _ = expected_slots(phase["w0"], phase["w1"], Path(phase["edits"]))
        result["baseline"] = {**_phase_summary(phase), **analyze_stock(phase, expected)}
        _print_row("stock", result["baseline"])
    return result


def bench_burst(args: argparse.Namespace, scheduler: str, workdir: Path, bound: float) -> dict[str, Any]:
    from bench.sched_mix import Spec
    from bench.sched_seed import seed

    label = "project" if scheduler == PROJECT else "stock"
    print(f"\n== burst: {args.burst:,} jobs due in the same second ({label}) ==", flush=True)
    fresh_database()
    now = datetime.now(UTC)
    at = (now + timedelta(seconds=args.burst_lead)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    cron = f"{at.minute} {at.hour} * * *"
    specs = [Spec(f"bench-{i:06d}", {"kind": "cron", "cron": cron, "timezone": "UTC"}, None) for i in range(args.burst)]
    info = seed(specs, mode="bulk", now=now)
    n = args.burst

    def all_in(path: Path) -> bool:
        if not path.exists():
            return False
        with path.open("rb") as fh:
            return sum(1 for _ in fh) >= n

    phase = run_phase(
        args,
        label=f"burst-{label}",
        scheduler=scheduler,
        workdir=workdir,
        duration=0,
        edits=False,
        until=at.timestamp() + bound,
        stop_when=all_in,
    )
    if phase["beat_startup_s"] and time.time() and phase["w0"] > at.timestamp():
        print("  warning: beat was not ready before the burst second", flush=True)
    result = {"scheduler": scheduler, "due_at": at.isoformat(), "seed": info, **analyze_burst(phase, at.timestamp(), n)}
    print(
        f"  {label}: {result['dispatched']}/{n} dispatched, all within {result['all_dispatched_s']} s "
        f"(bound {bound:g} s; published from {result['first_published_s']} s to {result['last_published_s']} s)",
        flush=True,
    )
    return result


def _phase_summary(phase: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "scheduler",
        "beat_startup_s",
        "deploy",
        "failover",
        "beats",
        "beat_peak_rss_mb",
        "beat_rss_end_mb",
        "beat_log_mirror_resync",
    )
    out = {k: phase.get(k) for k in keys}
    if phase.get("beat_crashed"):
        out["beat_crashed"] = phase["beat_crashed"]
    out["window_s"] = round(phase["w1"] - phase["w0"], 1)
    return out


def _print_row(name: str, r: dict[str, Any]) -> None:
    print(
        f"  {name}: {json.dumps({k: v for k, v in r.items() if not k.endswith('examples')}, default=str)}", flush=True
    )


def machine(args: argparse.Namespace) -> dict[str, Any]:
    model = ""
    with contextlib.suppress(Exception):
        for line in run(["lscpu"]).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    versions = {}
    with contextlib.suppress(Exception):
        from importlib.metadata import version

        for pkg in ("celery", "kombu", "django", "django-celery-beat", "psycopg"):
            versions[pkg] = version(pkg)
    with contextlib.suppress(Exception):
        versions["postgresql"] = run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "show server_version"]
        ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg": os.getloadavg(),
        "versions": versions,
    }


def table(results: list[dict[str, Any]], bursts: dict[str, Any]) -> str:
    head = (
        f"{'jobs':>8} {'scheduler':<9} {'disp/s':>7} {'late p50':>9} {'late p99':>9} {'missed':>7} {'dup':>5} "
        f"{'peak MB':>8} {'quiet tick':>10} {'edit reload':>11}"
    )
    lines = [head, "-" * len(head)]
    for res in results:
        for key, name in (("project", "project"), ("baseline", "stock")):
            r = res.get(key)
            if not r:
                continue
            p50 = r.get("lateness_p50_s", r.get("cron_lateness_p50_s"))
            p99 = r.get("lateness_p99_s", r.get("cron_lateness_p99_s"))
            lines.append(
                f"{res['jobs']:>8,} {name:<9} {r['dispatch_rate_per_s']:>7} {_s(p50):>9} {_s(p99):>9} "
                f"{_s(r.get('missed')):>7} {_s(r.get('duplicated')):>5} {r['beat_peak_rss_mb']:>8} "
                f"{_s(r['quiet_tick_ms_p50'], 'ms'):>10} {_s(r['reload_ms_p50'], 'ms'):>11}"
            )
    for res in results:
        r = res.get("project") or {}
        for part in ("startup", "steady"):
            if r.get(part):
                p = r[part]
                lines.append(
                    f"{res['jobs']:>8,} project {part} ({p['window'][0][11:]} to {p['window'][1][11:]} UTC): "
                    f"late p50 {_s(p['lateness_p50_s'], 's')}, p99 {_s(p['lateness_p99_s'], 's')}, "
                    f"max {_s(p['lateness_max_s'], 's')}, {p['late_over_1s']} over 1 s, missed {p['missed']} "
                    f"of {p['slots_expected']}"
                )
    for name, b in bursts.items():
        lines.append(
            f"burst {b['jobs']:,} ({name}): {b['dispatched']:,} dispatched, all within "
            f"{_s(b['all_dispatched_s'], 's')} (bound {b['bound_s']} s), published {b['rate_per_s']}/s "
            f"from {_s(b.get('first_published_s'), 's')} to {_s(b.get('last_published_s'), 's')} after the second"
        )
    return "\n".join(lines)


def _s(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:g}{unit}" if isinstance(value, float | int) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--duration", type=float, default=300, help="seconds of measurement per N (project)")
    parser.add_argument("--baseline-duration", type=float, default=None, help="default: --duration")
    parser.add_argument("--baseline-max", type=int, default=10_000, help="largest N run with the stock scheduler")
    parser.add_argument("--edit-rate", type=float, default=5.0)
    parser.add_argument("--burst", type=int, default=10_000, help="jobs due in the same second (0: skip)")
    parser.add_argument("--burst-bound", type=float, default=60, help="seconds after the burst second to wait")
    parser.add_argument(
        "--burst-lead", type=float, default=40, help="seconds before the burst second for beat to start"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--beats",
        type=int,
        default=1,
        help="beat processes of the project's scheduler (the stock one always runs one); they share the jobs "
        "when JOBS_BEAT_PARTITIONS (passed through from the environment) is above 1, else all but one stand by",
    )
    parser.add_argument(
        "--seed-mode",
        choices=("auto", "services", "bulk"),
        default="auto",
        help="auto: services up to 1,000 jobs, bulk above",
    )
    parser.add_argument(
        "--restart-lead",
        type=float,
        default=None,
        help="seconds from the start of the next_run_at refresh to beat's spawn (default: 5 + N / 2,000)",
    )
    parser.add_argument(
        "--deploy-after",
        type=float,
        default=None,
        help="a deploy: a first beat runs this many seconds, is stopped (SIGTERM), the measured beat starts; "
        "the window starts at the stop (project scheduler only)",
    )
    parser.add_argument(
        "--kill-active-after",
        type=float,
        default=None,
        help="with --beats 2 or more: SIGKILL the beat holding the lease this many seconds into the window",
    )
    parser.add_argument(
        "--boundary-at",
        type=float,
        default=None,
        help="start beat so that a */5 minute boundary comes this many seconds into the window (waits up to 5 min)",
    )
    parser.add_argument("--time-budget", type=float, default=3600, help="skip the remaining N after this many seconds")
    parser.add_argument("--cache-db", type=int, default=6)
    parser.add_argument("--broker-db", type=int, default=7)
    parser.add_argument("--keep-workdir", action="store_true")
    parser.add_argument("--tag", default="", help="suffix for the result files (e.g. -before)")
    args = parser.parse_args()
    args.baseline_duration = args.baseline_duration or args.duration
    if args.beats < 1:
        parser.error("--beats must be at least 1")
    if args.beats > 1 and int(os.environ.get("JOBS_BEAT_PARTITIONS", "1")) < 2:
        print("note: --beats > 1 with JOBS_BEAT_PARTITIONS=1: one beat works, the others stand by", flush=True)

    env = base_env(args)
    os.environ.update({k: v for k, v in env.items() if k not in ("PATH", "HOME")})
    RESULTS.mkdir(parents=True, exist_ok=True)
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"sched-bench-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    info = {
        "machine": machine(args),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {k: v for k, v in vars(args).items() if k not in ("keep_workdir",)} | {"env": job_settings()},
        "targets": TARGETS,
        "commit": run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT).stdout.strip(),
        "dirty": bool(run(["git", "status", "--porcelain", "jobs", "bench"], cwd=ROOT).stdout.strip()),
    }
    results: list[dict[str, Any]] = []
    bursts: dict[str, Any] = {}
    try:
        print("migrating the template database ...", flush=True)
        make_template(env)
        import django

        django.setup()
        for n in args.jobs:
            if time.monotonic() - started > args.time_budget:
                print(f"time budget spent: {n:,} jobs skipped", flush=True)
                info.setdefault("skipped", []).append(n)
                continue
            res = bench_n(args, n, workdir)
            res.update(info, loadavg_after=os.getloadavg())
            results.append(res)
            (RESULTS / f"scheduler-{n}{args.tag}.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
        if args.burst:
            bursts["project"] = bench_burst(args, PROJECT, workdir, args.burst_bound)
            bursts["stock"] = bench_burst(args, STOCK, workdir, args.burst_bound)
            burst_doc = {**info, **bursts, "loadavg_after": os.getloadavg()}
            (RESULTS / f"scheduler-burst{args.tag}.json").write_text(
                json.dumps(burst_doc, indent=2, default=str) + "\n"
            )
    finally:
        drop_databases()
        with contextlib.suppress(Exception):
            flush_redis(args)
    print()
    print(
        f"machine: {info['machine']['cpus']} x {info['machine']['cpu_model']}, load average before "
        f"{info['machine']['loadavg']}, after {os.getloadavg()}"
    )
    print(table(results, bursts))
    print(f"\nworkdir (records, tick logs, beat logs): {workdir}")


if __name__ == "__main__":
    main()
