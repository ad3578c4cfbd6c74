"""What the database is asked never reaches an error message or a log line."""

import logging

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from app.extensions import db


def test_a_failed_statement_does_not_print_its_parameters(db, caplog):
    secret = "visitor-token-5ecret-and-search-text"

    with caplog.at_level(logging.DEBUG), pytest.raises(DBAPIError) as raised:
        db.session.execute(sa.text("SELECT 1 / 0 WHERE :token = :token"), {"token": secret})

    assert "division by zero" in str(raised.value)
    assert secret not in str(raised.value)
    assert secret not in caplog.text


def test_an_unexpected_database_error_in_a_request_logs_no_parameters(api, monkeypatch, caplog):
    secret = "customer-search-5ecret"

    def failing_list(tenant, **query):
        db.session.execute(sa.text("SELECT 1 / 0 WHERE :search = :search"), {"search": query["search"]})

    monkeypatch.setattr("app.services.conversations.list_conversations", failing_list)

    with caplog.at_level(logging.ERROR):
        response = api.get("/api/v1/conversations", query_string={"search": secret})

    assert response.status_code == 500
    assert "request.unhandled-error" in caplog.messages
    assert secret not in caplog.text
