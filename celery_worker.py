"""The Celery entry point: `celery -A celery_worker.celery worker` (and `beat`).

The app is created here, in the worker process, so every task runs in its own app context.
"""

import sys

from celery.signals import worker_process_init

from app import create_app
from app.extensions import db
from app.startup import UnsafeConfiguration

try:
    flask_app = create_app()
except UnsafeConfiguration as exc:
    sys.exit(str(exc))
celery = flask_app.extensions["celery"]

import tasks  # noqa: E402,F401  (registers the tasks with this Celery app)


@worker_process_init.connect
def _fresh_database_connections(**kwargs):
    # A forked pool process must not reuse the parent's pooled connections (they share sockets).
    with flask_app.app_context():
        db.engine.dispose(close=False)
