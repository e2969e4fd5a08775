"""Page-number pagination with strict bounds.

`page_size` above the maximum is a 400, not silently clamped: a client asking
for 500 rows and getting 200 would believe it has seen everything. An empty
`page=` or `page_size=` is a 400 too, as the schema documents them as numbers:
leave a parameter out for its default.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def _positive_int(raw: str, name: str, maximum: int | None = None) -> int:
    bounds = f"from 1 to {maximum}" if maximum else "of at least 1"
    message = f"Must be a whole number {bounds}."
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValidationError({name: [message]}) from None
    if value < 1 or (maximum is not None and value > maximum):
        raise ValidationError({name: [message]})
    return value


class FirstPagePaginator(Paginator):
    """Django's paginator, minus the COUNT query when the first page is the only one.

    Most callers have fewer jobs than a page and ask for page 1: reading one
    row more than a page says whether there is more, and when there is not,
    the rows read are the count. Any other page counts as usual.

    `columns`: read a page as `values(*columns)` rows instead of model
    instances. Only the page's slice is turned into rows, so the count stays
    a count of the queryset as given, without the joins the columns need
    (the owner's username).
    """

    def __init__(
        self, object_list: Any, per_page: int, *args: Any, columns: tuple[str, ...] = (), **kwargs: Any
    ) -> None:
        super().__init__(object_list, per_page, *args, **kwargs)
        self.columns = columns

    def page(self, number: Any) -> Page:
        if str(number) != "1" or self.orphans:
            return super().page(number)
        rows = list(self._read(self.object_list[: self.per_page + 1]))
        if len(rows) > self.per_page:
            return self._get_page(rows[: self.per_page], 1, self)  # `count` is queried when asked for
        self.__dict__["count"] = len(rows)  # a cached_property on Paginator
        return self._get_page(rows, 1, self)

    def _get_page(self, object_list: Any, number: int, paginator: Paginator) -> Page:
        # Django's hook for every page it makes (pages other than the first).
        return super()._get_page(self._read(object_list), number, paginator)

    def _read(self, objects: Any) -> Any:
        return objects.values(*self.columns) if self.columns and isinstance(objects, QuerySet) else objects


class Pagination(PageNumberPagination):
    columns: tuple[str, ...] = ()
    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        # An empty value is a 400 like any other non-number: leave the parameter out for the default.
        return _positive_int(raw, self.page_size_query_param, self.max_page_size)

    def paginate_queryset(
        self, queryset: Any, request: Request, view: Any = None, *, columns: tuple[str, ...] = ()
    ) -> list[Any] | None:
        """DRF's, plus `columns`: the page as `values(*columns)` rows (see FirstPagePaginator)."""
        raw = request.query_params.get(self.page_query_param)
        if raw not in (None, "last"):
            _positive_int(raw, self.page_query_param)
        self.columns = columns
        # A well-formed page past the last one stays DRF's 404 ("Invalid page.").
        return super().paginate_queryset(queryset, request, view)

    def django_paginator_class(self, queryset: Any, page_size: int) -> FirstPagePaginator:
        # DRF's way of making the paginator (a class attribute there), with the columns.
        return FirstPagePaginator(queryset, page_size, columns=self.columns)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": "Page number, from 1, or `last`. A page past the last one answers 404.",
                "schema": {"oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "enum": ["last"]}]},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Results per page (default {DEFAULT_PAGE_SIZE}, at most {MAX_PAGE_SIZE}; "
                "larger answers 400).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE},
            },
        ]
