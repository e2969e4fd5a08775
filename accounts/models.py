from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import models

from accounts.indexes import ExpiryIndex


class User(AbstractUser):
    """A person or service account. UUID keys let one migration serve every backend."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("email address", blank=True)
    # Every token carries the generation it was minted in (accounts.tokens); a token of an older
    # generation is refused. save() bumps it when the password or the active flag changes.
    token_generation = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        db_table = "users"
        ordering = ["username"]

    def __str__(self) -> str:
        return self.username

    @classmethod
    def from_db(cls, db: Any, field_names: Any, values: Any) -> User:
        user = super().from_db(db, field_names, values)
        # What the row said, to see in save() whether the active flag changed (None: not loaded).
        user._saved_is_active = user.__dict__.get("is_active")
        return user

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Kept in save(), not in the services: a password change or (de/re)activation must end
        # the user's tokens on every write path (services, the admin's forms, set_password in a
        # shell), as the user snapshot's drop follows every save. QuerySet.update() bypasses it.
        if not self._state.adding and self._ends_tokens(kwargs.get("update_fields")):
            self.token_generation += 1
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "token_generation"}
        super().save(*args, **kwargs)
        self._saved_is_active = self.is_active
        self._password_made_unusable = False

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        super().refresh_from_db(*args, **kwargs)
        fields = kwargs.get("fields", args[1] if len(args) > 1 else None)
        if fields is None or "is_active" in fields:
            self._saved_is_active = self.is_active

    def set_unusable_password(self) -> None:
        super().set_unusable_password()
        self._password_made_unusable = True

    def _ends_tokens(self, update_fields: Any) -> bool:
        # `_password` is set by set_password() until the next save, and cleared by Django
        # before it saves a rehash of the same password at login: only real changes count.
        password_changed = self._password is not None or getattr(self, "_password_made_unusable", False)
        writes_active = update_fields is None or "is_active" in update_fields
        saved_is_active = getattr(self, "_saved_is_active", None)
        active_changed = writes_active and saved_is_active is not self.is_active
        return password_changed or active_changed


class RevokedToken(models.Model):
    """A revoked token id or refresh family, kept until every token it could end has expired.

    The database holds the truth and the shared cache a copy read on every request
    (accounts.revocation). The key is the primary key, stored in `_id` on MongoDB:
    inserting it is what decides a rotation race (a second insert of the same key
    fails on every backend), and no second unique index stands in the way of
    sharding the collection. A natural key rather than the usual UUID because
    the key is what every lookup names.
    """

    # A token's jti, or `family:<id>` for a refresh family (accounts.revocation.family_row_key).
    key = models.CharField(max_length=80, primary_key=True, db_column="_id")
    # After this the tokens are expired anyway: MongoDB's TTL index deletes the row, SQL a periodic prune.
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [ExpiryIndex(fields=["expires_at"], name="revoked_token_expiry")]

    def __str__(self) -> str:
        return self.key
