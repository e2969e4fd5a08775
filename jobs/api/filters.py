"""Query-string filters of the job list. Invalid values answer 400, never "no filter"."""

from __future__ import annotations

from typing import Any

from django.db.models import F, QuerySet
from django_filters import rest_framework as filters
from rest_framework.exceptions import ValidationError

from jobs.models import Job, RunStatus, ScheduleKind

ORDERING_FIELDS = ("name", "next_run_at", "created_at")
#: Filters whose empty value (`enabled=`) is a 400 rather than "no filter": the schema documents
#: them as enums (and `ordering` as a non-empty list); no filter is said by leaving one out.
#: `search=` stays allowed: any text, the empty one included, is a search.
NON_EMPTY_FILTERS = ("enabled", "last_status", "schedule_kind", "ordering")


class JobOrdering(filters.OrderingFilter):
    """`ordering=name,-next_run_at`. Paused jobs (no next run) sort last either way."""

    def filter(self, qs: QuerySet[Job], value: Any) -> QuerySet[Job]:
        if not value:
            return qs
        if any(not param for param in value):
            # `name,` or `,name`: django-filter lets the empty key through, which has no field (a KeyError).
            raise ValidationError({"ordering": ["Sort keys must not be empty."]})
        order = []
        for param in value:
            descending = param.startswith("-")
            field = F(self.param_map[param.lstrip("-")])
            order.append(field.desc(nulls_last=True) if descending else field.asc(nulls_last=True))
        return qs.order_by(*order, "id")


class JobFilter(filters.FilterSet):
    # A choice rather than django-filter's BooleanFilter, which quietly
    # ignores values it does not understand (`enabled=maybe` would list all).
    enabled = filters.ChoiceFilter(
        choices=(("true", "true"), ("false", "false")),
        method="filter_enabled",
        help_text="Only enabled (`true`) or paused (`false`) jobs.",
    )
    last_status = filters.ChoiceFilter(choices=RunStatus.choices, help_text="Status of the latest run.")
    schedule_kind = filters.ChoiceFilter(choices=ScheduleKind.choices, help_text="Kind of schedule.")
    search = filters.CharFilter(
        field_name="name", lookup_expr="icontains", help_text="Part of the name (case-insensitive)."
    )
    ordering = JobOrdering(
        fields=ORDERING_FIELDS,
        help_text="Sort by `name`, `next_run_at` or `created_at`; prefix `-` for descending; comma-separate keys.",
    )

    class Meta:
        model = Job
        fields = ("enabled", "last_status", "schedule_kind", "search", "ordering")

    def filter_enabled(self, qs: QuerySet[Job], name: str, value: str) -> QuerySet[Job]:
        return qs.filter(enabled=value == "true")
