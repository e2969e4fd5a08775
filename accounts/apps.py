from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts import schema  # noqa: F401  (registers the OpenAPI auth scheme)

        post_migrate.connect(_create_cache_table, sender=self)


def _create_cache_table(using: str, **kwargs: object) -> None:
    # The embedded default shares its cache through a table in the SQLite
    # file; creating it with every migrate means it always exists. A no-op
    # when the cache is Redis.
    from django.core.management import call_command

    call_command("createcachetable", database=using, verbosity=0)
