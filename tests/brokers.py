"""Pointing this process's celery app at another broker (tests that publish to a broker of their own)."""

from __future__ import annotations

from typing import Any

from kombu import pools as kombu_pools

from scheduler_site.celery import app


def use_broker(url: str, options: dict[str, Any]) -> None:
    """Publish to `url` from now on (with these transport options)."""
    # Drop every cached connection and producer pool (kombu keeps them per
    # broker URL, process-wide), so the next publish connects afresh.
    kombu_pools.reset()
    app.conf.broker_url = url
    app.conf.broker_transport_options = options
    app._pool = None
    app.amqp._producer_pool = None
