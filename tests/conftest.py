import flask_migrate
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import scoped_session, sessionmaker

from app import celery as app_celery
from app import create_app
from app.extensions import db as _db
from app.extensions import limiter
from app.schemas import dumping
from app.services import provider_registry
from config import TestConfig
from tests import factories
from tests.queue import RecordingQueue, refuse
from tests.services import CommittedConfig, celery_left_as_it_was, migrated_app, truncate_everything

# Every answer the suite dumps is compared with marshmallow's own dump of it (app/schemas/dumping.py).
dumping.VERIFY = True


@pytest.fixture(scope="session")
def app():
    """The app on the real PostgreSQL test database, migrated from empty to head once per run."""
    return migrated_app(TestConfig())


@pytest.fixture
def db(app):
    """Each test in one outer transaction, rolled back at the end; the code's commits become savepoints."""
    with app.app_context():
        connection = _db.engine.connect()
        outer = connection.begin()
        # Deferred triggers (the unread tallies) fire at a real COMMIT, which never comes here: run
        # them as each statement ends instead. tests/test_unread_counts.py covers real commits.
        connection.execute(sa.text("SET CONSTRAINTS ALL IMMEDIATE"))
        original_session = _db.session
        _db.session = scoped_session(sessionmaker(bind=connection, join_transaction_mode="create_savepoint"))
        try:
            yield _db
        finally:
            _db.session.remove()
            _db.session = original_session
            outer.rollback()
            connection.close()


@pytest.fixture
def client(app, db):
    limiter.reset()
    return app.test_client()


@pytest.fixture
def tenant(db):
    return factories.make_tenant(name="Acme")


@pytest.fixture
def admin(tenant):
    return factories.make_user(tenant=tenant, role="admin", email="admin@acme.test")


@pytest.fixture
def staff(tenant):
    return factories.make_user(tenant=tenant, role="staff", email="staff@acme.test")


@pytest.fixture
def api(client, admin):
    """A client that calls as the tenant's admin."""
    return factories.ApiClient(client, factories.make_token(user=admin))


@pytest.fixture
def staff_api(client, staff):
    return factories.ApiClient(client, factories.make_token(user=staff))


@pytest.fixture
def use_provider():
    """Serve every tenant with a stand-in provider for this test: `use_provider(fake)`. The one seam."""
    yield provider_registry.use_instead
    provider_registry.use_instead(None)


@pytest.fixture(autouse=True)
def enqueues_are_expected():
    """An enqueue the test did not ask for fails it, instead of vanishing into a broker nobody reads."""
    app_celery.enqueue_instead(refuse)
    yield
    app_celery.enqueue_instead(None)


@pytest.fixture
def queue(enqueues_are_expected) -> RecordingQueue:
    """Enqueues by name, recorded instead of reaching a broker."""
    recorder = RecordingQueue()
    app_celery.enqueue_instead(recorder.enqueue)
    return recorder


@pytest.fixture
def real_broker(enqueues_are_expected):
    """Enqueues go to the app's own broker (a live Redis, or in-process without one)."""
    app_celery.enqueue_instead(None)


@pytest.fixture
def john(tenant):
    """The seed's example contact."""
    return factories.make_contact(tenant=tenant, first_name="John", last_name="Doe", phone="+15551234567")


@pytest.fixture(scope="session")
def committed_app():
    """An app on its own database, migrated from empty once per run, whose commits are real."""
    return migrated_app(CommittedConfig(), becomes_current=False)


@pytest.fixture
def committed(committed_app):
    """The committed database, emptied before and after the test; yields the app, its context pushed."""
    with committed_app.app_context():
        truncate_everything()
        try:
            yield committed_app
        finally:
            _db.session.remove()
            truncate_everything()


@pytest.fixture
def sqlite_app(tmp_path):
    """The app on a new SQLite file migrated to head, as scripts/serve.sh runs it; its context pushed."""

    class SQLiteConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'dev.sqlite3'}"

    with celery_left_as_it_was():
        app = create_app(SQLiteConfig())
    with app.app_context():
        flask_migrate.upgrade()
        try:
            yield app
        finally:
            _db.session.remove()
            _db.engine.dispose()


@pytest.fixture
def other_tenant(db):
    return factories.make_tenant(name="Globex")


@pytest.fixture
def other_api(client, other_tenant):
    """A client that calls as the admin of another tenant."""
    user = factories.make_user(tenant=other_tenant, role="admin", email="admin@globex.test")
    return factories.ApiClient(client, factories.make_token(user=user))
