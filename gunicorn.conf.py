"""gunicorn settings for the `web` process (Procfile: `gunicorn wsgi:app -c gunicorn.conf.py`).

Why gthread: live event streams (Server-Sent Events) are held open for minutes. A sync worker would
be taken by one stream; the gthread worker serves each connection on a thread from a pool, so a
held stream costs one idle thread (blocked on its own queue, no database connection) and ordinary
requests keep the other threads. gevent would also hold thousands of streams, but needs monkey-
patching under psycopg, the Redis clients and Celery's producer, for a gain we do not need at
hundreds of streams per dyno. Size WEB_THREADS above the streams you expect per worker plus the
concurrent API requests (docs/benchmarks-live.md measures 500 streams on one worker).

Two workers, one per core, with keep-alive, were chosen by measurement against one, three and four,
keep-alive off and the sync worker (bench/RESULTS.md, "The web's gunicorn configuration").
"""

import os
import signal

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "300"))
worker_connections = int(os.environ.get("WEB_MAX_CONNECTIONS", "1000"))
timeout = 30
# On deploy (SIGTERM) streams end at once with a `reconnect` event (see post_worker_init); ordinary
# requests get this long to finish.
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", "20"))
keepalive = 5
# Limits gunicorn enforces before the app sees a request (its own defaults, stated so the README's
# list of them stays true): gunicorn answers these 414/431/400 itself, as HTML.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = "-"
# gunicorn 27's runtime control socket lives at one path per user ($HOME/.gunicorn/gunicorn.ctl):
# two web processes on one machine (tests, a benchmark, another app) would fight over it, and the
# platform restarts dynos rather than reconfiguring them, so it is off.
control_socket_disable = True


def post_worker_init(worker):
    """On SIGTERM, end this worker's held streams first, then let gunicorn stop gracefully.

    Without this, each stream would hold its thread until graceful_timeout and then be cut; with
    it, clients get a `reconnect` event and come back (with Last-Event-ID) to a live process.
    """
    from app import live

    stop_gracefully = signal.getsignal(signal.SIGTERM)

    def end_streams_then_stop(signum, frame):
        live.get_bus(worker.wsgi).shutdown()
        stop_gracefully(signum, frame)

    signal.signal(signal.SIGTERM, end_streams_then_stop)
    signal.siginterrupt(signal.SIGTERM, False)
