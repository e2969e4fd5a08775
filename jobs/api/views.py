"""The jobs REST API: viewsets that call selectors (reads) and services (writes).

List and detail responses are cached in the shared cache (see jobs.cache)
inside `list`/`retrieve`, i.e. after DRF has authenticated the caller and
checked permissions, so a cached page is never served to an expired, revoked
or deactivated user's token. Entries are the serialized payload, keyed per
user (staff share one scope) and query string, and versioned: any write bumps
the owner's version, so the next read misses in every process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from jobs import cache as job_cache
from jobs import selectors, services
from jobs.api.filters import NON_EMPTY_FILTERS, JobFilter
from jobs.api.pagination import Pagination
from jobs.api.permissions import IsOwnerOrStaff
from jobs.api.serializers import (
    JOB_COLUMNS,
    AlertDeliverySerializer,
    AlertSerializer,
    ChannelChangeSerializer,
    ChannelCreatedSerializer,
    ChannelSerializer,
    ChannelWriteSerializer,
    JobChangeSerializer,
    JobEventSerializer,
    JobRunSerializer,
    JobSerializer,
    JobWriteSerializer,
    RunRequestedSerializer,
    SchedulePreviewInputSerializer,
    SchedulePreviewSerializer,
    schedule_representation,
)
from jobs.api.throttles import JobWriteThrottle, RunNowThrottle
from jobs.execution import store
from jobs.models import Channel, Job
from scheduler_site.openapi import error_response

CACHE_HEADER = "X-Cache"
_RENDERER = JSONRenderer()


# Answers with a meaning particular to these views; the generic error answers (400, 401, 403, 404,
# 413, 415, 429) are added to every operation by scheduler_site.openapi.SchedulerAutoSchema.
E403 = {403: error_response("Not allowed (e.g. resuming a job paused because its owner was deactivated; staff only)")}
E404 = {404: error_response("No such job, or it belongs to another user")}
E409 = {409: error_response("The owner already has a job of this name, or JOBS_MAX_PER_USER jobs")}
JOB_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The job's id.")
X_CACHE = OpenApiParameter(
    CACHE_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200],
    enum=["hit", "miss"],
    description="Whether the response came from the shared cache.",
)


def _seconds_until_earliest(instants: Iterable[datetime | str | None], now: datetime) -> float | None:
    earliest: datetime | None = None
    for when in instants:
        if when is None:
            continue
        if isinstance(when, str):
            when = datetime.fromisoformat(when)
        if earliest is None or when < earliest:
            earliest = when
    return None if earliest is None else (earliest - now).total_seconds()


def _ttl_for(next_run_ats: Iterable[datetime | None], payload_jobs: Iterable[dict[str, Any]], now: datetime) -> float:
    """Never outlive the earliest next run shown: cached `next_runs` must not be in the past."""
    ttl = float(settings.API_CACHE_TTL_SECONDS)
    instants: list[datetime | str | None] = list(next_run_ats)
    instants += [(data["schedule"]["next_runs"] or [None])[0] for data in payload_jobs]
    until = _seconds_until_earliest(instants, now)
    # One second of margin for the time between `now` and the cache write.
    return ttl if until is None else min(ttl, until - 1)


@extend_schema_view(
    list=extend_schema(
        summary="List jobs",
        description="The caller's jobs (staff: every job), paginated. Cached per user and query string.",
        parameters=[X_CACHE],
        responses={200: JobSerializer(many=True)},
    ),
    retrieve=extend_schema(
        summary="Get a job",
        parameters=[JOB_ID, X_CACHE],
        responses={200: JobSerializer, 400: error_response("A query parameter it does not understand"), **E404},
    ),
    create=extend_schema(
        summary="Create a job",
        request=JobWriteSerializer,
        responses={201: JobSerializer, **E409},
    ),
    update=extend_schema(
        summary="Replace a job",
        description="Omitted optional fields return to their defaults; omitted header values keep the stored ones.",
        parameters=[JOB_ID],
        request=JobWriteSerializer,
        responses={200: JobSerializer, **E403, **E404, **E409},
    ),
    partial_update=extend_schema(
        summary="Change a job",
        description="Only the fields sent change; `schedule` and `action`, when sent, are replaced as a whole.",
        parameters=[JOB_ID],
        request=JobChangeSerializer,
        responses={200: JobSerializer, **E403, **E404, **E409},
    ),
    destroy=extend_schema(
        summary="Delete a job",
        description="Its audit trail is kept.",
        parameters=[JOB_ID],
        responses={204: None, **E404},
    ),
)
@extend_schema(tags=["jobs"])
class JobViewSet(viewsets.GenericViewSet):
    """Jobs: create, schedule, pause, resume, run now, and look at runs and the audit trail."""

    serializer_class = JobSerializer
    permission_classes = [IsOwnerOrStaff]
    pagination_class = Pagination
    filterset_class = JobFilter
    queryset = Job.objects.none()  # for schema introspection; reads go through the selectors

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Job.objects.none()
        return selectors.job_list_for_user(user=self.request.user)

    def get_object(self) -> Job:
        job = selectors.job_get_for_user(user=self.request.user, job_id=self.kwargs["pk"])
        self.check_object_permissions(self.request, job)
        return job

    def filter_queryset(self, queryset: Any) -> Any:
        # django-filter builds and validates a form on every call (a sixth of an
        # uncached list); with none of its parameters given it changes nothing.
        if not any(name in self.request.query_params for name in JobFilter.base_filters):
            return queryset
        return super().filter_queryset(queryset)

    _THROTTLES = {
        "create": JobWriteThrottle,
        "update": JobWriteThrottle,
        "partial_update": JobWriteThrottle,
        "destroy": JobWriteThrottle,
        "run": RunNowThrottle,
    }

    def get_throttles(self) -> list[Any]:
        throttle = self._THROTTLES.get(self.action)
        return [throttle()] if throttle else []

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "now": timezone.now()}

    # --- cached reads -------------------------------------------------------------

    _CACHED_SCOPES = {"list": "list", "retrieve": "detail"}
    # The query parameters each cached read understands. Any other one is a 400:
    # it would not change the answer, yet as part of the cache key each junk
    # value stored another copy of a page (100 junk reads added 604 MB to
    # Redis), and a misspelt filter (`enable=false`) would silently list all.
    _QUERY_PARAMETERS = {
        "list": frozenset(JobFilter.base_filters) | {Pagination.page_query_param, Pagination.page_size_query_param},
        "retrieve": frozenset(),
    }

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        scope = self._CACHED_SCOPES.get(self.action)
        if scope is not None:
            # The owner's cached response is read in the same cache round trip
            # as the token's revocation check; it is used only once
            # authentication and permissions have passed (`_cached`).
            path, query = self._cache_address(request)

            def prefetch(user_id: Any) -> tuple[str, str]:
                return job_cache.keys(scope=scope, owner_id=user_id, staff=False, path=path, query=query)

            request.cache_prefetch = prefetch
        super().initial(request, *args, **kwargs)
        allowed = self._QUERY_PARAMETERS.get(self.action)
        if allowed is not None:
            unknown = sorted(set(request.query_params) - allowed)
            if unknown:
                known = ", ".join(sorted(allowed)) or "none"
                raise ValidationError({name: [f"Unknown query parameter; allowed: {known}."] for name in unknown})
            empty = [name for name in NON_EMPTY_FILTERS if "" in request.query_params.getlist(name)]
            if empty:
                message = "Must not be empty; leave the parameter out for no filter."
                raise ValidationError({name: [message] for name in empty})

    @staticmethod
    def _cache_address(request: Request) -> tuple[str, str]:
        # Parameter order does not change the answer; sorting raises the hit ratio.
        return f"{request.get_host()}{request.path}", urlencode(sorted(request.query_params.lists()), doseq=True)

    def _cached(self, request: Request, scope: str, build: Callable[[], tuple[Any, float]]) -> HttpResponse:
        # Runs inside the view: authentication and permissions have already
        # passed, so a hit is never served to a revoked or deactivated token.
        user = request.user
        path, query = self._cache_address(request)
        found = job_cache.lookup(
            scope=scope,
            owner_id=user.pk,
            staff=user.is_staff,
            path=path,
            query=query,
            prefetched=getattr(request, "cache_prefetched", None),
        )
        if found.body is None:
            payload, ttl = build()
            body = _RENDERER.render(payload)
            job_cache.store(found, body, ttl=ttl)
            return HttpResponse(body, content_type="application/json", headers={CACHE_HEADER: "miss"})
        # The stored bytes are what the renderer produced for the miss: no
        # serializer or renderer runs on a hit.
        return HttpResponse(found.body, content_type="application/json", headers={CACHE_HEADER: "hit"})

    def list(self, request: Request) -> Response:
        def build() -> tuple[Any, float]:
            # Rows, not model instances (see JOB_COLUMNS).
            jobs = self.filter_queryset(self.get_queryset())
            rows = self.paginator.paginate_queryset(jobs, request, view=self, columns=JOB_COLUMNS)
            assert rows is not None  # pagination is always on
            context = self.get_serializer_context()
            data = JobSerializer(context=context).rows_representation(rows)
            payload = dict(self.get_paginated_response(data).data)
            return payload, _ttl_for((row["next_run_at"] for row in rows), data, context["now"])

        return self._cached(request, "list", build)

    def retrieve(self, request: Request, pk: str) -> Response:
        def build() -> tuple[Any, float]:
            job = self.get_object()
            context = self.get_serializer_context()
            data = dict(JobSerializer(job, context=context).data)
            return data, _ttl_for([job.next_run_at], [data], context["now"])

        return self._cached(request, "detail", build)

    # --- writes ---------------------------------------------------------------------

    def _job_response(self, write: Callable[[], Job], status_code: int = status.HTTP_200_OK) -> Response:
        """The write and its answer in one transaction: if the answer cannot be built, nothing is written.

        A client told 500 must be able to trust that nothing changed (a job saved behind a 500 was
        created twice by a retrying client). Where the database has no transactions (a standalone
        MongoDB server) the write stands alone, as everywhere else (`store.atomic`).
        """
        with store.current().atomic():
            data = JobSerializer(write(), context=self.get_serializer_context()).data
        return Response(data, status=status_code)

    def create(self, request: Request) -> Response:
        serializer = JobWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._job_response(
            lambda: services.job_create(owner=request.user, actor=request.user, data=serializer.validated_data),
            status.HTTP_201_CREATED,
        )

    def _update(self, request: Request, *, partial: bool) -> Response:
        job = self.get_object()
        serializer_class = JobChangeSerializer if partial else JobWriteSerializer
        serializer = serializer_class(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return self._job_response(
            lambda: services.job_update(job=job, actor=request.user, data=serializer.validated_data, partial=partial)
        )

    def update(self, request: Request, pk: str) -> Response:
        return self._update(request, partial=False)

    def partial_update(self, request: Request, pk: str) -> Response:
        return self._update(request, partial=True)

    def destroy(self, request: Request, pk: str) -> Response:
        services.job_delete(job=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Pause a job",
        description="No further runs until resumed. Pausing a paused job changes nothing.",
        parameters=[JOB_ID],
        request=None,
        responses={200: JobSerializer, **E404},
    )
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str) -> Response:
        job = self.get_object()
        return self._job_response(lambda: services.job_pause(job=job, actor=request.user))

    @extend_schema(
        summary="Resume a job",
        description="It next fires at its first slot after now; slots missed while paused are not run. "
        "A job paused because its owner was deactivated can be resumed by staff only.",
        parameters=[JOB_ID],
        request=None,
        responses={200: JobSerializer, **E403, **E404},
    )
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        job = self.get_object()
        return self._job_response(lambda: services.job_resume(job=job, actor=request.user))

    @extend_schema(
        summary="Run a job now",
        description="Queues a manual run outside the schedule.",
        parameters=[JOB_ID],
        request=None,
        responses={202: RunRequestedSerializer, **E404},
    )
    @action(detail=True, methods=["post"])
    def run(self, request: Request, pk: str) -> Response:
        run = services.job_request_run(job=self.get_object(), actor=request.user)
        return Response(RunRequestedSerializer({"run_id": run.id}).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="A job's runs",
        description="Run history, newest first, paginated.",
        parameters=[JOB_ID],
        responses={200: JobRunSerializer(many=True), **E404},
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def runs(self, request: Request, pk: str) -> Response:
        job = self.get_object()
        page = self.paginate_queryset(selectors.job_runs(job=job))
        secrets = [value for value in (job.http_headers or {}).values() if isinstance(value, str) and len(value) >= 4]
        data = JobRunSerializer(page, many=True, context={"secrets": secrets}).data
        return self.get_paginated_response(data)

    @extend_schema(
        summary="A job's alerts",
        description="Alerts raised for the job (failed, recovered, paused, ...), newest first, paginated, each "
        "with its deliveries: one per channel, with the attempts made and the latest answer.",
        parameters=[JOB_ID],
        responses={200: AlertSerializer(many=True), **E404},
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def alerts(self, request: Request, pk: str) -> Response:
        page = self.paginate_queryset(selectors.job_alerts(job=self.get_object()))
        return self.get_paginated_response(AlertSerializer(page, many=True).data)

    @extend_schema(
        summary="A job's audit trail",
        description="Who changed what and when (created, updated with the changed fields, paused, resumed, "
        "run_requested, auto_paused, ...), newest first, paginated.",
        parameters=[JOB_ID],
        responses={200: JobEventSerializer(many=True), **E404},
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def events(self, request: Request, pk: str) -> Response:
        page = self.paginate_queryset(selectors.job_events(job=self.get_object()))
        return self.get_paginated_response(JobEventSerializer(page, many=True).data)


@extend_schema(tags=["schedules"])
class ScheduleViewSet(viewsets.ViewSet):
    """Try a schedule before saving it."""

    @extend_schema(
        summary="Preview a schedule",
        description="Validates a schedule exactly as a job's would be and returns it normalized, "
        "with `next_runs` holding the next `count` fire times.",
        request=SchedulePreviewInputSerializer,
        responses={200: SchedulePreviewSerializer},
    )
    @action(detail=False, methods=["post"])
    def preview(self, request: Request) -> Response:
        serializer = SchedulePreviewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        now = timezone.now()
        schedule = services.validate_schedule(serializer.validated_data["schedule"], now=now)
        data = schedule_representation(schedule, now=now, count=serializer.validated_data["count"])
        return Response({"schedule": data})


CHANNEL_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The channel's id.")
E404_CHANNEL = {404: error_response("No such channel, or it belongs to another user")}
E409_CHANNEL = {409: error_response("The owner already has a channel of this name")}


@extend_schema_view(
    list=extend_schema(
        summary="List alert channels",
        description="The caller's channels (staff: every channel), paginated. Secrets are never listed.",
        responses={200: ChannelSerializer(many=True)},
    ),
    retrieve=extend_schema(
        summary="Get an alert channel", parameters=[CHANNEL_ID], responses={200: ChannelSerializer, **E404_CHANNEL}
    ),
    create=extend_schema(
        summary="Create an alert channel",
        description="A webhook channel's signing secret is in this answer, and never shown again.",
        request=ChannelWriteSerializer,
        responses={201: ChannelCreatedSerializer, **E409_CHANNEL},
    ),
    partial_update=extend_schema(
        summary="Change an alert channel",
        description="Name, target or the default flag; a channel's kind (and a webhook's secret) cannot change.",
        parameters=[CHANNEL_ID],
        request=ChannelChangeSerializer,
        responses={200: ChannelSerializer, **E404_CHANNEL, **E409_CHANNEL},
    ),
    destroy=extend_schema(
        summary="Delete an alert channel",
        description="Its deliveries go with it; jobs that named it alert their owner's default channels instead.",
        parameters=[CHANNEL_ID],
        responses={204: None, **E404_CHANNEL},
    ),
)
@extend_schema(tags=["alerts"])
class ChannelViewSet(viewsets.GenericViewSet):
    """Where a user's alerts go: email, signed webhooks, Slack-compatible incoming webhooks."""

    serializer_class = ChannelSerializer
    permission_classes = [IsOwnerOrStaff]
    pagination_class = Pagination
    queryset = Channel.objects.none()  # for schema introspection; reads go through the selectors
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    _THROTTLES = {
        "create": JobWriteThrottle,
        "partial_update": JobWriteThrottle,
        "destroy": JobWriteThrottle,
        "test": RunNowThrottle,
    }

    def get_throttles(self) -> list[Any]:
        throttle = self._THROTTLES.get(self.action)
        return [throttle()] if throttle else []

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Channel.objects.none()
        return selectors.channel_list_for_user(user=self.request.user)

    def get_object(self) -> Channel:
        channel = selectors.channel_get_for_user(user=self.request.user, channel_id=self.kwargs["pk"])
        self.check_object_permissions(self.request, channel)
        return channel

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        allowed = {Pagination.page_query_param, Pagination.page_size_query_param} if self.action == "list" else set()
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            known = ", ".join(sorted(allowed)) or "none"
            raise ValidationError({name: [f"Unknown query parameter; allowed: {known}."] for name in unknown})

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ChannelSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(ChannelSerializer(self.get_object()).data)

    def create(self, request: Request) -> Response:
        serializer = ChannelWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with store.current().atomic():
            channel = services.channel_create(owner=request.user, data=serializer.validated_data)
            data = ChannelCreatedSerializer(channel).data
        return Response(data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str) -> Response:
        channel = self.get_object()
        serializer = ChannelChangeSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        channel = services.channel_update(channel=channel, data=serializer.validated_data)
        return Response(ChannelSerializer(channel).data)

    def destroy(self, request: Request, pk: str) -> Response:
        services.channel_delete(channel=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Send a test message",
        description="Queues a test message to the channel and returns its delivery (`pending`); follow it in the "
        "channel's owner's alert history or the admin.",
        parameters=[CHANNEL_ID],
        request=None,
        responses={202: AlertDeliverySerializer, **E404_CHANNEL},
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str) -> Response:
        delivery = services.channel_test(channel=self.get_object())
        return Response(AlertDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
