from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts import schema  # noqa: F401  (registers the OpenAPI auth scheme)

        post_migrate.connect(_create_cache_table, sender=self)
        # Cache invalidation is the one side effect kept in signals: it must
        # follow every write path (services, admin, shell), or a deactivated
        # user's cached snapshot would keep their tokens working.
        user_model = self.get_model("User")
        post_save.connect(_drop_user_snapshot, sender=user_model, dispatch_uid="accounts-drop-snapshot-save")
        post_delete.connect(_drop_user_snapshot, sender=user_model, dispatch_uid="accounts-drop-snapshot-delete")


def _create_cache_table(using: str, **kwargs: object) -> None:
    # The embedded default shares its cache through a table in the SQLite
    # file; creating it with every migrate means it always exists. A no-op
    # when the cache is Redis.
    from django.core.management import call_command

    call_command("createcachetable", database=using, verbosity=0)


def _drop_user_snapshot(instance: object, **kwargs: object) -> None:
    from accounts import user_snapshots

    user_snapshots.drop(instance.pk)  # type: ignore[attr-defined]
