"""The operators' admin, one module per page group; importing them registers the pages."""

from jobs.admin import jobs, site  # noqa: F401
