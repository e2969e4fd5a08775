"""Job schedules: validation, English phrases, next fire times, descriptions.

The pure core of the project: stdlib + cron_descriptor, never
Django, so models, serializers, the scheduler and commands can all use it and
it can be tested without a settings module.  Import the public API from here
(``from jobs import schedules``); each module owns one responsibility:

* ``model``        -- ``Schedule``, ``ScheduleError``, ``KINDS``/``UNITS`` and
  the zone/time helpers the other modules share.
* ``cron``         -- 5-field cron expressions and macros: validation, and
  ``parse_cron()``, the one parser that fire times use too.
* ``phrases``      -- ``parse_phrase()``: English phrases to a Schedule.
* ``wire``         -- the wire-format dict both ways: ``parse()`` for input,
  ``to_dict()``/``from_dict()`` for storage.
* ``fire``         -- ``next_fire_times()``, ``next_fire_time()``,
  ``slots_between()``; the DST rules are documented there.
* ``descriptions`` -- ``describe()``: human text.

No module is named after a function it exports, so ``schedules.parse`` and
``schedules.describe`` are always the functions.
"""

from jobs.schedules.descriptions import describe
from jobs.schedules.fire import next_fire_time, next_fire_times, slots_between
from jobs.schedules.model import KINDS, UNITS, Schedule, ScheduleError, canonical_zone
from jobs.schedules.phrases import parse_phrase, zone_in_phrase
from jobs.schedules.wire import from_dict, parse, to_dict

__all__ = [
    "KINDS",
    "UNITS",
    "Schedule",
    "ScheduleError",
    "canonical_zone",
    "describe",
    "from_dict",
    "next_fire_time",
    "next_fire_times",
    "parse",
    "parse_phrase",
    "slots_between",
    "to_dict",
    "zone_in_phrase",
]
