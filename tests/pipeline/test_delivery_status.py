"""Status only moves forward (pending -> sent -> delivered -> read; failed is final), whatever order updates come in."""

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.providers.base import DELIVERED, FAILED, PENDING, READ, SENT, DeliveryReport, StatusReport
from app.services.delivery_status import StatusBeforeSend, advances, apply_delivery_report, apply_status_update
from tests import factories
from tests.pipeline.helpers import reload

STATUSES = [PENDING, SENT, DELIVERED, READ, FAILED]
PROGRESS = {PENDING: 0, SENT: 1, DELIVERED: 2, READ: 3}
updates = st.lists(st.sampled_from(STATUSES), max_size=12)
with_db = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def expected_after(updates: list[str]) -> str:
    """The rule, stated independently: the furthest status reported wins, unless a failure came while pending/sent."""
    status = PENDING
    for new in updates:
        if status == FAILED:
            break
        if new == FAILED:
            if status in (PENDING, SENT):
                status = FAILED
        elif new != PENDING and PROGRESS[new] > PROGRESS[status]:
            status = new
    return status


def is_step_back(before: str, after: str) -> bool:
    if before == FAILED:
        return after != FAILED
    return after != FAILED and PROGRESS[after] < PROGRESS[before]


@pytest.fixture
def new_message(conversation):
    def new_message():
        return factories.make_message(conversation=conversation, direction="outbound", delivery_status=PENDING)

    return new_message


class TestTheRule:
    @given(st.sampled_from(STATUSES), st.sampled_from(STATUSES))
    def test_no_status_moves_back_and_failed_is_final(self, current, new):
        if advances(current, new):
            assert not is_step_back(current, new)
            assert current != FAILED and new != current

    @pytest.mark.parametrize(
        ("current", "new"), [(SENT, DELIVERED), (DELIVERED, READ), (PENDING, SENT), (SENT, FAILED)]
    )
    def test_these_steps_are_forward(self, current, new):
        assert advances(current, new)

    @pytest.mark.parametrize(
        ("current", "new"),
        [(DELIVERED, SENT), (READ, DELIVERED), (FAILED, DELIVERED), (DELIVERED, FAILED), (SENT, SENT)],
    )
    def test_these_are_not(self, current, new):
        assert not advances(current, new)


class TestUpdatesInAnyOrder:
    @with_db
    @given(updates)
    def test_a_message_never_moves_back_whatever_arrives_in_whatever_order(self, new_message, tenant, updates):
        message = new_message()
        history = [PENDING]

        for new in updates:
            moved = apply_status_update(tenant.id, message.id, new)
            now = reload(message).delivery_status
            assert not is_step_back(history[-1], now)
            assert moved == (now != history[-1])
            history.append(now)

        assert history[-1] == expected_after(updates)

    @with_db
    @given(st.permutations([SENT, DELIVERED, READ]), st.integers(min_value=0, max_value=3))
    def test_every_order_of_a_happy_life_ends_read(self, new_message, tenant, order, duplicates):
        message = new_message()

        for new in order + order[:duplicates]:
            apply_status_update(tenant.id, message.id, new)

        assert reload(message).delivery_status == READ

    @pytest.mark.parametrize("order", list(itertools.permutations([SENT, DELIVERED, READ, FAILED])))
    def test_a_failure_counts_only_if_it_comes_before_any_delivery(self, new_message, tenant, order):
        message = new_message()

        for new in order:
            apply_status_update(tenant.id, message.id, new, error_code="30003", error_message="Unreachable")

        stored = reload(message)
        delivered_first = order.index(FAILED) > min(order.index(DELIVERED), order.index(READ))
        assert stored.delivery_status == (READ if delivered_first else FAILED)
        assert stored.error_code == (None if delivered_first else "30003")

    def test_a_duplicated_report_changes_nothing(self, new_message, tenant):
        message = new_message()
        assert apply_status_update(tenant.id, message.id, DELIVERED)
        updated_at = reload(message).updated_at

        assert not apply_status_update(tenant.id, message.id, DELIVERED)
        assert reload(message).updated_at == updated_at

    def test_sent_records_when(self, new_message, tenant):
        message = new_message()

        apply_status_update(tenant.id, message.id, SENT)

        assert reload(message).sent_at is not None


class TestProviderReports:
    def test_a_report_finds_the_message_by_the_providers_id(self, conversation, tenant):
        message = factories.make_message(conversation=conversation, direction="outbound", provider_message_id="SM1")

        assert apply_delivery_report(tenant.id, DeliveryReport("SM1", StatusReport(DELIVERED))) is not None
        assert reload(message).delivery_status == DELIVERED

    def test_a_report_for_another_tenants_message_changes_nothing(self, conversation, tenant):
        message = factories.make_message(conversation=conversation, direction="outbound", provider_message_id="SM1")
        stranger = factories.make_tenant(name="Globex")

        with pytest.raises(StatusBeforeSend):
            apply_delivery_report(stranger.id, DeliveryReport("SM1", StatusReport(FAILED)))
        assert reload(message).delivery_status == SENT

    def test_a_report_for_a_message_not_recorded_yet_asks_to_be_retried(self, tenant):
        with pytest.raises(StatusBeforeSend):
            apply_delivery_report(tenant.id, DeliveryReport("SM-unknown", StatusReport(DELIVERED)))
