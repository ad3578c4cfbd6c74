"""The least the fixed stack can answer a request in: the Procfile's gunicorn and Flask, nothing of ours.

bench/inbox.py serves this app with gunicorn.conf.py, as the Procfile serves the real one, and
drives it like the real one. For each measured endpoint it answers `/<index>` by running the
statements the real request issued (captured in-process) straight through psycopg, as the app runs
them (a read's each on its own, a write's in one transaction, rolled back here), and sending the
real answer's bytes back: gunicorn, Flask and the SQL, without the ORM, marshmallow, authentication
or any code of ours. The gap between the real endpoint and this is what our code costs; the gap
between this and the raw SQL is what the stack costs before our code runs.

STACK_FLOOR_REQUESTS names a pickle of {index: (statements, read_request, status, content_type,
body)}, each statement (sql, params, executemany), written by bench/inbox.py (`floor_requests`).
"""

from __future__ import annotations

import os
import pickle
import threading

import psycopg
from flask import Flask, Response, request

app = Flask(__name__)
_local = threading.local()
with open(os.environ["STACK_FLOOR_REQUESTS"], "rb") as file:
    _requests: dict[int, tuple] = pickle.load(file)  # noqa: S301 (written by bench/inbox.py)


def _connection() -> psycopg.Connection:
    connection = getattr(_local, "connection", None)
    if connection is None:
        connection = _local.connection = psycopg.connect(os.environ["DATABASE_URL"])
    return connection


@app.route("/<int:index>", methods=["GET", "POST"])
def replay(index: int):
    statements, read_request, status, content_type, body = _requests[index]
    request.form  # noqa: B018 (a webhook reads its form; a GET has none)
    connection = _connection()
    connection.autocommit = read_request
    with connection.cursor() as cursor:
        for sql, params, many in statements:
            if many:
                cursor.executemany(sql, params)
            else:
                cursor.execute(sql, params or None)
            if cursor.description is not None:
                cursor.fetchall()
    if not read_request:
        connection.rollback()
    return Response(body, status=status, content_type=content_type)


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
