from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from jobs.execution import builtin_tasks  # noqa: F401  (registers the built-in tasks)
