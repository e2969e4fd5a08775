"""The services: every write on jobs (`jobs.services.jobs`) and every write a run leads to (`jobs.services.runs`).

The API, the admin, the Celery tasks, beat and the management commands call
these and nothing else, so validation, the audit trail, the API cache and
django-celery-beat's mirror rows stay in step whatever the entry point. The
names below are the public API, importable as `jobs.services.<name>`.
"""

from jobs.services.jobs import (
    HTTP_METHODS,
    POLICY_BOUNDS,
    POLICY_DEFAULTS,
    SETTABLE_FIELDS,
    DuplicateJobName,
    compute_next_run_at,
    job_create,
    job_delete,
    job_duplicate,
    job_pause,
    job_resume,
    job_to_spec,
    job_update,
    jobs_pause_for_deactivated_owner,
    record_event,
    validate_schedule,
)
from jobs.services.runs import (
    after_run,
    job_request_run,
    publish,
    run_execute,
    run_execute_now,
    run_execute_slot,
    run_hard_timeout,
    runs_prune,
    runs_reap,
)

__all__ = [
    "HTTP_METHODS",
    "POLICY_BOUNDS",
    "POLICY_DEFAULTS",
    "SETTABLE_FIELDS",
    "DuplicateJobName",
    "after_run",
    "compute_next_run_at",
    "job_create",
    "job_delete",
    "job_duplicate",
    "job_pause",
    "job_request_run",
    "job_resume",
    "job_to_spec",
    "job_update",
    "jobs_pause_for_deactivated_owner",
    "publish",
    "record_event",
    "run_execute",
    "run_execute_now",
    "run_execute_slot",
    "run_hard_timeout",
    "runs_prune",
    "runs_reap",
    "validate_schedule",
]
