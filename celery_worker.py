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


def _survives_a_lost_connection(operation, *, errors=(AttributeError,), forget_delivered: bool = False):
    """kombu 5.7 restores, acknowledges and rejects tasks through the Redis connection it has just
    lost, raising AttributeError ('NoneType' object has no attribute 'hostname' / 'client');
    uncaught, that ends or wedges the worker, which then sends nothing until restarted by hand
    (issue 10). The task stays in Redis' unacked set (delivered again after the visibility timeout,
    and harmless then: the claim) and our sweepers re-enqueue its work within a minute, so the
    worker logs it and carries on reconnecting."""

    def guarded(self, *args, **kwargs):
        try:
            return operation(self, *args, **kwargs)
        except errors as exc:
            log.warning(
                "celery.broker-call-failed", extra={"call": operation.__name__, "error": exc.__class__.__name__}
            )
            if forget_delivered:
                self._delivered.clear()
            return None

    return guarded


QoS.restore_unacked = _survives_a_lost_connection(
    QoS.restore_unacked, errors=(AttributeError, redis.RedisError), forget_delivered=True
)
QoS.ack = _survives_a_lost_connection(QoS.ack)
QoS.reject = _survives_a_lost_connection(QoS.reject)
