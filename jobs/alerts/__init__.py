"""Alerts: when a job's state change is worth telling its owner (`events`), what the message says
(`content`), and how it is sent to a channel (`channels`).

Decisions and sending only: the writes (alerts, deliveries, attempts) are made
by `jobs.services.alerts`, which the run services, the pause service and the
delivery task call.
"""
