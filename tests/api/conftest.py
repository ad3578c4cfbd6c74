"""Fixtures shared by the API tests: a second tenant, and the contact most tests talk to."""

import pytest

from tests import factories


@pytest.fixture
def john(tenant):
    """The seed's example contact."""
    return factories.make_contact(tenant=tenant, first_name="John", last_name="Doe", phone="+15551234567")


@pytest.fixture
def other_tenant(db):
    return factories.make_tenant(name="Globex")


@pytest.fixture
def other_api(client, other_tenant):
    """A client that calls as the admin of another tenant."""
    user = factories.make_user(tenant=other_tenant, role="admin", email="admin@globex.test")
    return factories.ApiClient(client, factories.make_token(user=user))
