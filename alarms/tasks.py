"""Celery tasks of the alarms: thin wrappers around the services, each safe to run again."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from alarms import services, webhooks


@shared_task
def evaluate_alarms() -> dict[str, int]:
    """Every ALARM_EVALUATION_SECONDS (CELERY_BEAT_SCHEDULE): evaluate the alarms, and resend any
    webhook delivery whose attempt is overdue."""
    result = services.evaluate_alarms()
    resent = webhooks.resend_overdue_deliveries()
    return {"evaluated": result.evaluated, "fired": result.fired, "recovered": result.recovered, "resent": resent}


@shared_task(bind=True, max_retries=None)
def deliver_webhook(self: Task[Any, Any], delivery_id: int) -> None:
    """One attempt; a retryable failure comes back with the countdown the delivery log shows.

    Run in-process (no broker: ``make run``, the tests) there is no later to come back at: the
    delivery waits, marked for retry, for the periodic task's sweep instead.
    """
    wait = webhooks.attempt_delivery(delivery_id=delivery_id)
    if wait is not None and not self.request.is_eager:
        raise self.retry(countdown=wait)


@shared_task
def delete_old_alarm_history() -> int:
    """Enforce ALARM_HISTORY_RETENTION_DAYS (scheduled daily in CELERY_BEAT_SCHEDULE); safe to rerun."""
    return services.delete_old_alarm_history()
