"""Who may act on a job.

The selectors already limit every lookup to the caller's jobs (others answer
404), so this object check is a second line of defence should a view ever
fetch a job another way. Rules that depend on the job's state (only staff may
resume a job paused because its owner was deactivated) live in the services,
so the admin enforces them too.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class IsOwnerOrStaff(BasePermission):
    message = "You do not have access to this job."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated)

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return bool(request.user.is_staff or obj.owner_id == request.user.pk)
