"""The Celery entry point: `celery -A celery_worker.celery worker` (and `beat`).

The app is created here, in the worker process, so every task runs in its own app context.
"""

import logging
import sys

import redis
from celery.signals import worker_process_init
from kombu.transport.redis import QoS

from app import create_app
from app.extensions import db
from app.startup import UnsafeConfiguration

log = logging.getLogger(__name__)

try:
    flask_app = create_app()
except UnsafeConfiguration as exc:
    sys.exit(str(exc))
celery = flask_app.extensions["celery"]

import tasks  # noqa: E402,F401  (registers the tasks with this Celery app)
from app import push  # noqa: E402

# Push backends built once, before the pool forks: a platform without credentials is logged here, once.
push.prepare(flask_app.config)


@worker_process_init.connect
def _fresh_database_connections(**kwargs):
    # A forked pool process must not reuse the parent's pooled connections (they share sockets).
    with flask_app.app_context():
        db.engine.dispose(close=False)


def _restore_unacked_or_leave_them(restore):
    """kombu 5.7 restores a lost connection's unacknowledged tasks through the connection it just
    lost, raising AttributeError ('NoneType' object has no attribute 'hostname'); uncaught, it ends
    the worker, which then sends nothing until restarted by hand. The tasks are still in Redis'
    unacked set (redelivered after the visibility timeout) and our sweepers re-enqueue their work
    within a minute, so the worker logs it and carries on reconnecting."""

    def guarded(self, *args, **kwargs):
        try:
            return restore(self, *args, **kwargs)
        except (AttributeError, redis.RedisError) as exc:
            log.warning("celery.restore-unacked-failed", extra={"error": exc.__class__.__name__})
            self._delivered.clear()
            return None

    return guarded


QoS.restore_unacked = _restore_unacked_or_leave_them(QoS.restore_unacked)
