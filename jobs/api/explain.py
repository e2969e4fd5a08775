"""`GET /api/v1/jobs/{id}/explain/?since=24h`: why did (or didn't) a job run? (see jobs.diagnostics.explain).

Owner or staff only; another user's job answers 404 like a missing one
(the selector enforces it). A bad `since` answers the one error shape with
`fields.since`. Not cached: the answer depends on the current time.
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs import schedules, selectors
from jobs.api.permissions import IsOwnerOrStaff
from jobs.diagnostics import explain
from scheduler_site.errors import Conflict
from scheduler_site.openapi import ErrorSerializer


class JobExplainView(APIView):
    permission_classes = [IsOwnerOrStaff]

    @extend_schema(
        tags=["jobs"],
        operation_id="jobs_explain",
        summary="Why did (or didn't) the job run?",
        description=(
            "Every slot the job's schedule expected in the window, judged by the schedule in force at the "
            "time, with what became of it: `on_time`, `late`, `skipped`, `missed`, `paused`, `failed`, "
            "`retried` (failed, then retried), `in_progress`, `pending`, `before_created` or "
            "`beyond_retention` (older than RUNS_RETENTION_DAYS: no run records are kept)."
        ),
        parameters=[
            OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The job's id."),
            OpenApiParameter(
                "since",
                {"type": "string", "minLength": 1},
                OpenApiParameter.QUERY,
                description="Window start: a duration back from now (30m, 24h, 7d) or an ISO 8601 time. Default 24h.",
            ),
        ],
        responses={
            200: OpenApiTypes.OBJECT,
            400: OpenApiResponse(
                ErrorSerializer, description="`since` is not a duration or a past ISO 8601 time (error shape)."
            ),
            401: OpenApiResponse(
                ErrorSerializer, description="Missing, invalid, expired or revoked token (error shape)."
            ),
            404: OpenApiResponse(
                ErrorSerializer, description="No such job, or it belongs to another user (error shape)."
            ),
            409: OpenApiResponse(
                ErrorSerializer, description="The job's stored schedule cannot be computed; edit it (error shape)."
            ),
        },
    )
    def get(self, request: Request, pk: Any) -> Response:
        job = selectors.job_get_for_user(user=request.user, job_id=pk)
        self.check_object_permissions(request, job)
        now = timezone.now()
        try:
            since = explain.parse_since(request.query_params.get("since", "24h"), now=now)
        except explain.SinceError as exc:
            raise ValidationError({"since": [str(exc)]}) from exc
        try:
            return Response(explain.explain(job, since=since, now=now).to_dict())
        except schedules.ScheduleError as exc:
            raise Conflict(exc.message, code="schedule_uncomputable") from exc


urlpatterns = [
    path("jobs/<uuid:pk>/explain/", JobExplainView.as_view(), name="job-explain"),
]
