"""Celery wired to the Flask app, as Flask's own docs show, and the app's one door to it."""

import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from functools import cache

import redis
from celery import Celery, Task
from flask import Flask, current_app, has_app_context

from app import jobs
from app.services.unit_of_work import separate_use_case
from config import BROKER_SOCKET_TIMEOUT_SECONDS

log = logging.getLogger(__name__)

# kombu's Redis transport redelivers an unacknowledged task (a retry waiting for its ETA is one)
# after `visibility_timeout` seconds, 3600 unless configured: a longer countdown would run twice.
REDIS_VISIBILITY_TIMEOUT = 3600.0
# After a failed enqueue, skip the broker for this long; the sweepers enqueue what was skipped.
BROKER_BACKOFF_SECONDS = 10.0
_broker_down_until = 0.0
# A Redis call still unanswered after this long, in any thread of this process, means Redis is stuck
# (frozen, or a network that drops packets): a healthy one answers in milliseconds. Other threads
# then skip Redis at once instead of each waiting out its own socket timeout, so a frozen Redis
# costs a request at most one bounded wait, and only the few that were already waiting pay it.
REDIS_STUCK_AFTER_SECONDS = 0.5
_in_flight: dict[int, float] = {}  # call number -> when it started (time.monotonic())
_reported_stuck: set[int] = set()  # calls already logged as stuck: one log line per stuck call
_in_flight_lock = threading.Lock()
_call_numbers = itertools.count()


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            if has_app_context():  # run in-process (eager) from a request: its context and session
                with separate_use_case():  # ... but its own unit of work, as in a worker
                    return self.run(*args, **kwargs)
            # Each task in its own app context, leaving no session behind for the next one.
            with app.app_context():
                try:
                    return self.run(*args, **kwargs)
                finally:
                    from app.extensions import db

                    db.session.remove()

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.conf.task_routes = {name: {"queue": queue} for name, queue in jobs.QUEUE_OF.items()}
    celery_app.conf.task_default_queue = jobs.PERIODIC
    celery_app.conf.beat_schedule = {
        name: {"task": name, "schedule": every} for name, every in jobs.PERIODIC_JOBS.items()
    }
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


_instead: Callable | None = None


def runs_in_process() -> bool:
    """Whether tasks run here and now, in the caller's process (no broker: development)."""
    return current_app.extensions["celery"].conf.task_always_eager


def enqueue_instead(recorder: Callable | None) -> None:
    """Hand every enqueue to `recorder` (tests), or to the broker again with None. The one seam."""
    global _instead
    _instead = recorder


def redis_recently_failed() -> bool:
    """Whether a call to Redis (the broker, the live bus) failed moments ago, or another thread's has
    been waiting for an answer too long: skip it rather than make every request wait out the socket
    timeout; what was skipped is swept up later (the outbox sweeper, the event log's replay)."""
    now = time.monotonic()
    if now < _broker_down_until:
        return True
    with _in_flight_lock:
        stuck = {number for number, started in _in_flight.items() if now - started > REDIS_STUCK_AFTER_SECONDS}
        newly_stuck = stuck - _reported_stuck
        _reported_stuck.update(stuck)
    if newly_stuck:  # operators see why sends go through the sweeper for a while
        log.warning("redis.stuck", extra={"calls": len(stuck), "after_seconds": REDIS_STUCK_AFTER_SECONDS})
    return bool(stuck)


def redis_failed() -> None:
    global _broker_down_until
    _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS


@contextmanager
def redis_call():
    """Around one call to Redis: other threads can see it is stuck; a failure pauses Redis for all."""
    number = next(_call_numbers)
    with _in_flight_lock:
        _in_flight[number] = time.monotonic()
    try:
        yield
    except Exception:
        redis_failed()
        raise
    finally:
        with _in_flight_lock:
            _in_flight.pop(number, None)
            _reported_stuck.discard(number)


@cache
def redis_client(url: str) -> redis.Redis:
    """One client (and connection pool) per process and URL, for the app's own keys beside the
    broker's (waiting marks, push coalescing), bounded like every other Redis call."""
    return redis.Redis.from_url(
        url, socket_timeout=BROKER_SOCKET_TIMEOUT_SECONDS, socket_connect_timeout=BROKER_SOCKET_TIMEOUT_SECONDS
    )


# A task's "waiting" mark outlives a lost task only this long: then the next enqueue queues another
# (the sweepers re-enqueue what the lost one would have done after SWEEP_REQUEUE_AFTER_SECONDS anyway).
WAITING_MARK_SECONDS = 30


def enqueue_unless_waiting(key: str, task_name: str, *args) -> bool:
    """Enqueue unless a task enqueued under `key` is still waiting to start: that one does this work
    too (a send task takes every message its tenant has due), so a burst costs a few tasks, not one
    per message. The task calls `waiting_task_started(key)` before it looks for work, so anything
    committed after that queues a new one. Without Redis (development, tests) every call enqueues."""
    marks = _waiting_marks()
    if marks is None:
        return enqueue(task_name, *args)
    if redis_recently_failed():
        return False
    try:
        with redis_call():
            first = marks.set(_waiting_mark(key), "1", nx=True, ex=WAITING_MARK_SECONDS)
    except Exception:  # noqa: BLE001 - the caller's rows are committed; the sweepers enqueue later
        log.warning("celery.enqueue-failed", extra={"task": task_name})
        return False
    if not first:
        return True
    if enqueue(task_name, *args):
        return True
    waiting_task_started(key)  # nothing is waiting after all: the next enqueue must not be skipped
    return False


def waiting_task_started(key: str) -> None:
    """Clear `key`'s waiting mark: from now on, new work needs a task of its own."""
    marks = _waiting_marks()
    if marks is None or redis_recently_failed():
        return  # a mark left behind expires after WAITING_MARK_SECONDS
    try:
        with redis_call():
            marks.delete(_waiting_mark(key))
    except Exception:  # noqa: BLE001 - as above: the mark expires
        log.warning("celery.waiting-mark-not-cleared", extra={"key": key})


def take_turn(key: str, take: Callable[[bool], tuple[str, bool] | None], successor: tuple) -> dict[str, int]:
    """A task's turn at the work waiting under `key` (enqueue_unless_waiting), one piece at a time.

    The task's mark is cleared first, so work committed from now on queues another task. `take(first)`
    does one piece (`first`: the one the task was queued for) and answers its outcome and whether the
    turn must end there, or None when nothing is left. A second piece means a backlog: a successor
    (`successor`: its task name and arguments) is queued to share it. After SEND_TURN_SECONDS a
    successor is queued and the turn ends: one tenant's burst cannot hold a worker other tenants
    need. Returns how many pieces came to each outcome.
    """
    waiting_task_started(key)
    turn_over_at = time.monotonic() + current_app.config["SEND_TURN_SECONDS"]
    outcomes: Counter[str] = Counter()

    def queue_successor() -> bool:
        # In-process (no broker) there is no other worker to share with; the task would run inside this one.
        return not runs_in_process() and enqueue_unless_waiting(key, *successor)

    for taken in itertools.count(1):
        piece = take(taken == 1)
        if piece is None:
            break  # nothing (more) to take
        outcome, turn_ends = piece
        outcomes[outcome] += 1
        if turn_ends:
            break
        if taken == 2:
            queue_successor()  # a backlog: another worker shares it
        if time.monotonic() > turn_over_at and queue_successor():
            break  # the turn is over; the successor carries on
    return dict(outcomes)


def _waiting_marks() -> redis.Redis | None:
    """Where waiting marks live: the broker's Redis; None when tasks are recorded (tests) or run in-process."""
    url = current_app.config.get("REDIS_URL")
    if not url or _instead is not None or runs_in_process():
        return None
    return redis_client(url)


def _waiting_mark(key: str) -> str:
    return f"conversations:waiting:{key}"


def broker_was_emptied(observer: str) -> bool:
    """Whether Redis lost everything since `observer` last asked (restarted without persistence):
    every task queued before is gone, however recently. A key each observer sets once per Redis life."""
    url = current_app.config.get("REDIS_URL")
    if not url or _instead is not None:
        return False
    try:
        return bool(redis_client(url).set(f"conversations:broker-life:{observer}", "1", nx=True))
    except redis.RedisError:
        return False  # Redis is down: nothing can be enqueued now anyway; asked again next round


def enqueue(task_name: str, *args, countdown: float | None = None) -> bool:
    """Send a task by name (ids only, never ORM objects or secrets). Call it after the commit.

    Returns False instead of raising when the broker is unreachable: the caller's row is already
    committed, and the sweeper task picks up whatever was not enqueued. Without a broker
    (development), a registered task runs here and now.
    """
    if _instead is not None:
        return _instead(task_name, *args, countdown=countdown)
    celery_app: Celery = current_app.extensions["celery"]
    if runs_in_process():
        task = celery_app.tasks.get(task_name)
        if task is None:
            log.warning("celery.task-not-registered", extra={"task": task_name})
            return False
        task.apply(args=args)
        return True
    if redis_recently_failed():
        return False  # the broker failed moments ago: don't make every request wait for it again
    try:
        with redis_call():
            # retry=False: when Redis is down, fail fast instead of holding the API request.
            celery_app.send_task(task_name, args=args, countdown=countdown, retry=False)
        return True
    except Exception:  # kombu raises several unrelated types for an unreachable broker
        log.warning("celery.enqueue-failed", extra={"task": task_name})
        return False


def countdown_fits(celery_app: Celery, countdown: float) -> bool:
    """Whether the broker holds a task back for `countdown` seconds without delivering it twice."""
    options = celery_app.conf.broker_transport_options or {}
    return countdown < options.get("visibility_timeout", REDIS_VISIBILITY_TIMEOUT) - 60


def enqueue_later(task_name: str, *args, countdown: float) -> bool:
    """Enqueue to run in `countdown` seconds; False, queueing nothing, when that wait cannot be kept
    (in-process a task runs at once; too long a wait, see countdown_fits) or the broker is away.
    The caller then leaves the work to its sweeper."""
    if runs_in_process() or not countdown_fits(current_app.extensions["celery"], countdown):
        return False
    return enqueue(task_name, *args, countdown=countdown)
