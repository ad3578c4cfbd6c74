"""Turning RetryLater, and a database that is briefly away, into Celery retries, the same way for every task."""

from contextlib import contextmanager

from sqlalchemy.exc import OperationalError

from app.celery import countdown_fits
from app.services.retries import RetryLater


def retry_or_leave(task, countdown: float, leave) -> str:
    """Retry `task` after `countdown` seconds; or call `leave()` (hand the work to its sweeper) when
    the task cannot wait for itself: in-process (no broker) a retry would run at once, ignoring its
    countdown, and a countdown longer than Redis holds a task would run twice. The work's own state
    says it is not done, so if the retry cannot be published either, the sweeper still finds it."""
    if task.request.is_eager or not countdown_fits(task.app, countdown):
        leave()
        return "deferred"
    raise task.retry(countdown=countdown)


@contextmanager
def retried_when_unavailable(task, leave=lambda: None):
    """Run a task's body; a RetryLater becomes a retry after its countdown, and a database that is
    restarting or unreachable (nothing was claimed or changed) a retry with backoff, so a task is
    never acknowledged undone."""
    try:
        yield
    except RetryLater as later:
        retry_or_leave(task, later.countdown, leave)
    except OperationalError:
        if task.request.is_eager:
            raise
        raise task.retry(countdown=min(2**task.request.retries, 30)) from None
