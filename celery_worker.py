"""The Celery entry point: `celery -A celery_worker.celery worker` (and `beat`).

The app is created here, in the worker process, so every task runs in its own app context.
"""

from celery.signals import worker_process_init

from app import create_app
from app.extensions import db

flask_app = create_app()
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
