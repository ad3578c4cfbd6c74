"""Schemathesis over the served OpenAPI document: every operation, valid and invalid input.

Each operation gets FUZZ_EXAMPLES generated requests in each mode (positive: what the document
allows; negative: what it forbids), sent as an admin of a tenant with a contact and a
conversation. The checks: no 5xx, every status documented, every body matching the schema
documented for its status, the declared content type, invalid input refused. A deeper run is one
environment variable away (figures in docs/fuzzing.md):

    FUZZ_EXAMPLES=500 python -m pytest -q -p no:cacheprovider tests/api/test_openapi_fuzz.py

(schemathesis' own pytest plugin does not run on pytest 9 yet, so the strategies are driven by
Hypothesis directly; the checks are schemathesis' own.)
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from app import create_app
from config import TestConfig
from tests import factories
from tests.services import celery_left_as_it_was

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
# What "refused" means for invalid input: every documented error status (413 included: a body over
# the route's limit is refused before it is read, whatever else is wrong with it).
CONFIG = schemathesis.Config.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": [400, 401, 403, 404, 405, 409, 413, 415, 422, 429]}}}
)
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
EXCLUDED_CHECKS = [
    # A 2xx for generated "valid" input would need every generated id to exist; 404 is the honest answer.
    schemathesis.checks.positive_data_acceptance,
    # Need a stateful run (create, then delete): tests/api/test_tenant_isolation.py covers ids.
    schemathesis.checks.use_after_free,
    schemathesis.checks.ensure_resource_availability,
]


def _labels() -> list[str]:
    # The document only (no database): the operations to parametrize over, known at collection.
    with celery_left_as_it_was():
        schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", create_app(TestConfig()))
    return [result.ok().label for result in schema.get_all_operations()]


OPERATIONS = _labels()


def _headers_mode(case) -> str | None:
    components = (case.meta.components if case.meta else None) or {}
    for location, info in components.items():
        if getattr(location, "value", location) == "header":
            return getattr(info.mode, "value", None)
    return None


@pytest.fixture
def fuzz_token(client, tenant, admin):
    """An admin's token, and rows that small generated ids may hit."""
    contact = factories.make_contact(tenant=tenant, first_name="Fuzz", phone="+15550001111", email="f@z.test")
    factories.make_conversation(tenant=tenant, contact=contact, channel="web")
    return factories.make_token(user=admin)


def test_every_operation_is_fuzzed():
    assert len(OPERATIONS) >= 22


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode.value)
@pytest.mark.parametrize("label", OPERATIONS)
def test_an_operation_answers_within_its_documented_contract(app, fuzz_token, label, mode, monkeypatch):
    # The event stream is held open by design: end each generated one at once, after its first beat.
    monkeypatch.setitem(app.config, "LIVE_STREAM_MAX_SECONDS", 0.01)
    monkeypatch.setitem(app.config, "LIVE_HEARTBEAT_SECONDS", 0.01)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=CONFIG)
    method, path = label.split(" ", 1)
    operation = schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        derandomize=True,  # the same requests on every run, so a CI failure reproduces
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def answers_within_contract(case):
        headers = {}
        if _headers_mode(case) != "negative":
            # A valid token, unless the case is about a missing or broken one (then 401 is the answer).
            headers["Authorization"] = f"Bearer {fuzz_token}"
        case.call_and_validate(headers=headers, excluded_checks=EXCLUDED_CHECKS)

    answers_within_contract()
