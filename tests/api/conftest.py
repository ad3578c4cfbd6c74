"""Fixtures shared by the API tests: a second tenant and its admin."""

import pytest

from tests import factories


@pytest.fixture
def other_tenant(db):
    return factories.make_tenant(name="Globex")


@pytest.fixture
def other_api(client, other_tenant):
    """A client that calls as the admin of another tenant."""
    user = factories.make_user(tenant=other_tenant, role="admin", email="admin@globex.test")
    return factories.ApiClient(client, factories.make_token(user=user))
