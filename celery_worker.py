"""The Celery entry point: `celery -A celery_worker worker` (and `beat`).

The app is created here, in the worker process, so every task runs in its own app context.
"""

from app import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]

import tasks  # noqa: E402,F401  (registers the tasks with this Celery app)
