"""Turning RetryLater into a Celery retry, the same way for every task."""

# kombu's Redis transport redelivers an unacknowledged task (a retry waiting for its ETA is one)
# after `visibility_timeout` seconds, 3600 unless configured: a longer countdown would run twice.
REDIS_VISIBILITY_TIMEOUT = 3600.0


def retry_or_leave(task, countdown: float, leave) -> str:
    """Retry `task` after `countdown` seconds; or call `leave()` (hand the work to its sweeper) when
    the task cannot wait for itself: in-process (no broker) a retry would run at once, ignoring its
    countdown, and a countdown longer than Redis holds a task would run twice. The work's own state
    says it is not done, so if the retry cannot be published either, the sweeper still finds it."""
    options = task.app.conf.broker_transport_options or {}
    too_long = countdown >= options.get("visibility_timeout", REDIS_VISIBILITY_TIMEOUT) - 60
    if task.request.is_eager or too_long:
        leave()
        return "deferred"
    raise task.retry(countdown=countdown)
