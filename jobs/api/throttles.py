"""Per-user rates for the writes that cost the most: job writes and run-now.

Reads are cheap and cached, so they are not throttled; a create, an edit or a
delete writes the job, its audit event and its beat mirror row, and a run-now
queues work on the workers. The rates are settings (`API_RATE_JOB_WRITES`,
`API_RATE_RUN_NOW`); while the cache is unreachable requests pass (and a
warning is logged), as the login throttles do.
"""

from __future__ import annotations

from rest_framework.request import Request

from accounts.throttles import FailOpenThrottle


class _PerUserThrottle(FailOpenThrottle):
    def get_cache_key(self, request: Request, view: object) -> str | None:
        user = request.user
        if user is None or not user.is_authenticated:
            return None  # answered 401 by authentication, not throttled
        return self.cache_format % {"scope": self.scope, "ident": user.pk}


class JobWriteThrottle(_PerUserThrottle):
    scope = "job-writes"
    setting_name = "API_RATE_JOB_WRITES"


class RunNowThrottle(_PerUserThrottle):
    scope = "run-now"
    setting_name = "API_RATE_RUN_NOW"
