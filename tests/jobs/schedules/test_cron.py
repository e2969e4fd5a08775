"""Tests for jobs.schedules.cron: cron expressions as parse() validates and normalizes them."""

from __future__ import annotations

import pytest

from jobs.schedules import Schedule, parse
from tests.jobs.schedules.conftest import NOW, field_errors


def test_parse_cron_normalizes_whitespace_and_case() -> None:
    schedule = parse({"kind": "cron", "cron": "  0   9 * *   MON-FRI ", "timezone": "Europe/Berlin"}, now=NOW)
    assert schedule == Schedule(kind="cron", timezone="Europe/Berlin", cron="0 9 * * mon-fri")


@pytest.mark.parametrize(
    "expr",
    ["*/15 * * * *", "0,30 8-17 * * 1-5", "5 4 * jan,jul sun", "0 0 1 1 *", "0 0 * * 7", "5/15 * * * *", "0 0 29 2 *"],
)
def test_parse_valid_cron(expr: str) -> None:
    assert parse({"kind": "cron", "cron": expr}, now=NOW).cron == expr


@pytest.mark.parametrize(
    ("macro", "expanded"),
    [("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"), ("@weekly", "0 0 * * 0"), ("@monthly", "0 0 1 * *")],
)
def test_parse_cron_macros_are_expanded(macro: str, expanded: str) -> None:
    assert parse({"kind": "cron", "cron": macro}, now=NOW).cron == expanded


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("61 * * * *", "Minute field value 61 is out of range (allowed 0-59)."),
        ("0 24 * * *", "Hour field value 24 is out of range (allowed 0-23)."),
        ("0 0 0 * *", "Day-of-month field value 0 is out of range (allowed 1-31)."),
        ("0 0 32 * *", "Day-of-month field value 32 is out of range (allowed 1-31)."),
        ("0 0 * 13 *", "Month field value 13 is out of range (allowed 1-12 or jan-dec)."),
        ("0 0 * * 8", "Day-of-week field value 8 is out of range (allowed 0-7 or sun-sat)."),
        ("0 0 * foo *", 'Month field value "foo" is not valid (allowed 1-12 or jan-dec).'),
        ("0 0 * * funday", 'Day-of-week field value "funday" is not valid (allowed 0-7 or sun-sat).'),
        ("*/0 * * * *", 'Minute field step "0" is out of range (allowed 1-59).'),
        # "²" is a digit to str.isdigit, not to int(); 5000 digits are past int()'s limit.
        ("*/\u00b2 * * * *", 'Minute field step "\u00b2" is out of range (allowed 1-59).'),
        ("*/\u0663 * * * *", 'Minute field step "\u0663" is out of range (allowed 1-59).'),
        ("*/" + "9" * 5000 + " * * * *", f'Minute field step "{"9" * 20}" is out of range (allowed 1-59).'),
        ("9" * 5000 + " * * * *", f"Minute field value {'9' * 9}... is out of range (allowed 0-59)."),
        ("0 1-" + "9" * 5000 + " * * *", f"Hour field value {'9' * 9}... is out of range (allowed 0-23)."),
        ("0 0 * * 00000000008", "Day-of-week field value 8 is out of range (allowed 0-7 or sun-sat)."),
    ],
)
def test_parse_cron_field_ranges(expr: str, message: str) -> None:
    assert field_errors({"kind": "cron", "cron": expr}) == {"cron": [message]}


def test_parse_cron_reports_every_bad_field() -> None:
    fields = field_errors({"kind": "cron", "cron": "61 24 * * *"})
    assert fields["cron"] == [
        "Minute field value 61 is out of range (allowed 0-59).",
        "Hour field value 24 is out of range (allowed 0-23).",
    ]


@pytest.mark.parametrize("expr", ["0 9 * *", "0 0 9 * * 1", "", "   "])
def test_parse_cron_needs_five_fields(expr: str) -> None:
    fields = field_errors({"kind": "cron", "cron": expr})
    assert list(fields) == ["cron"]
    assert "5" in fields["cron"][0]


@pytest.mark.parametrize(
    "expr", ["1,,2 * * * *", "0 0 ? * *", "a-b-c * * * *", "0 l * * *", "0 0 * * 1w", "0 0 lw/2 * *"]
)
def test_parse_cron_rejects_non_standard_syntax(expr: str) -> None:
    fields = field_errors({"kind": "cron", "cron": expr})
    assert list(fields) == ["cron"]
    assert "allowed" in fields["cron"][0]


def test_parse_cron_rejects_reboot_macro() -> None:
    fields = field_errors({"kind": "cron", "cron": "@reboot"})
    assert "not supported" in fields["cron"][0]


def test_parse_cron_that_never_fires_is_converted_from_cronsim() -> None:
    # Our field checks pass (30 is a valid day); cronsim knows February has no 30th.
    fields = field_errors({"kind": "cron", "cron": "0 0 30 2 *"})
    assert list(fields) == ["cron"]
    assert "Day-of-month" in fields["cron"][0]
