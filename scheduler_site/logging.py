"""Log output: JSON lines for LOG_FORMAT=json, request context, and secret redaction.

Two filters are attached to every handler in settings.LOGGING (handler
filters see records from every logger, including propagated ones; logger
filters would not):

* `RequestContextFilter` turns the `request` object Django attaches to
  `django.request` records (one per failed request: 5xx always, 4xx when
  that logger's level lets warnings through) into plain structured fields:
  method, path, route, status_code, user_id. The request object itself is
  dropped: its repr includes the query string.
* `RedactSecretsFilter` rewrites what a record will print: the message, the
  structured extras and the formatted traceback. It removes Authorization
  header values, bearer tokens, anything shaped like a JWT, values of
  password/token/secret-like keys (`password=...`, `"refresh": "..."`),
  passwords in URLs (`redis://:pw@host`) and the configured secrets
  themselves (SECRET_KEY, METRICS_TOKEN).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
REDACTED = "[REDACTED]"

# Keys whose values are secrets wherever they appear (extras, dict reprs, query strings).
_SECRET_KEY_RE = re.compile(
    r"pass(word|wd)?|pwd|secret|token|authorization|cookie|sessionid|csrf|api[-_]?key|signature|jwt"
    r"|^(access|refresh|session)$",
    re.IGNORECASE,
)
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # JSON Web Tokens: three base64url segments, the first an encoded JSON object ("eyJ").
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
    # Authorization header values, however they were printed (header dict, META key, raw line).
    (
        re.compile(
            r"""((?:HTTP_)?AUTHORIZATION['"]?\s*[:=]\s*['"]?)(?:(?:Bearer|Basic|Token|JWT)\s+)?[^\s'",}]+""", re.I
        ),
        r"\1" + REDACTED,
    ),
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + REDACTED),
    # key=value / "key": "value" / 'key': 'value' for secret-looking keys.
    (
        re.compile(
            r"""(?P<key>['"]?[\w-]*(?:pass(?:word|wd)?|pwd|secret|token|refresh|api[-_]?key|sessionid|csrftoken)"""
            r"""[\w-]*['"]?\s*[:=]\s*)(?P<quote>['"]?)(?P<value>[^'"\s,&;}\]]+)""",
            re.IGNORECASE,
        ),
        r"\g<key>\g<quote>" + REDACTED,
    ),
    # Credentials inside URLs: scheme://user:password@host
    (re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@", re.I), r"\1" + REDACTED + "@"),
]


def _configured_secrets() -> list[str]:
    try:
        from django.conf import settings

        values = [getattr(settings, "SECRET_KEY", ""), getattr(settings, "METRICS_TOKEN", "")]
    except Exception:  # settings not configured (yet): patterns still apply
        return []
    # Short values would redact ordinary words; real secrets are long.
    return [value for value in values if isinstance(value, str) and len(value) >= 8]


# Every pattern above needs one of these (lower-cased) in the text to match.
# Most log lines contain none, and skipping four regular expressions for them
# made logging a run's end three times cheaper (beat logs thousands in a burst).
_TRIGGERS = (
    "eyj",  # a JSON Web Token's first segment, lower-cased
    "authorization",
    "bearer",
    "basic",
    "pass",
    "pwd",
    "secret",
    "token",
    "refresh",
    "api",
    "sessionid",
    "csrftoken",
    "://",
)


def redact(text: str) -> str:
    """`text` with every secret-looking part replaced by [REDACTED]."""
    for secret in _configured_secrets():
        text = text.replace(secret, REDACTED)
    lowered = text.lower()
    if not any(trigger in lowered for trigger in _TRIGGERS):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any, key: str = "") -> Any:
    """A structured value with secret-keyed entries replaced and strings redacted."""
    if key and _SECRET_KEY_RE.search(key) and value not in (None, "", [], {}):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v) for v in value]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return redact(str(value))


class RedactSecretsFilter(logging.Filter):
    """Rewrite a record so no handler can print a secret. Never drops a record."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken %-format must still be logged, not hidden
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = redact(message)
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and not key.startswith("_"):
                setattr(record, key, redact_value(value, key))
        if record.exc_info and not record.exc_text:
            # Formatters print exc_text when it is set; the exception's own
            # message (e.g. a DSN with its password) is redacted here.
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record._redacted = True
        return True


class RequestContextFilter(logging.Filter):
    """Replace the `request` object on a record with structured request fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = record.__dict__.get("request")
        if request is None or not hasattr(request, "META"):
            return True
        match = getattr(request, "resolver_match", None)
        user = getattr(request, "user", None)
        record.method = request.method
        record.path = request.path  # no query string: it may carry secrets
        record.route = (match.view_name or match.route) if match else None
        record.user_id = str(user.pk) if getattr(user, "is_authenticated", False) else None
        del record.request
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # Structured fields passed with `extra=` travel as top-level keys.
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            # The redaction filter may have rewritten exc_text: print that.
            payload["exc_info"] = record.exc_text
        if record.stack_info:
            payload["stack_info"] = record.stack_info
        return json.dumps(payload, default=str)
