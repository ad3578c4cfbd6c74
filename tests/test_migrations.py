"""The migrations build exactly the schema the models describe, and take it all down again."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

import config
from app import create_app
from app.extensions import db
from config import TestConfig
from tests.services import ensure_database, postgres_url, require


class MigrationsConfig(TestConfig):
    SQLALCHEMY_DATABASE_URI = postgres_url("migrations")


@pytest.fixture
def empty_database_app():
    """An app on its own database (not the test database the other tests share), with an empty schema."""
    url = MigrationsConfig.SQLALCHEMY_DATABASE_URI
    try:
        ensure_database(url)
    except Exception as exc:  # psycopg.OperationalError and friends
        require("PostgreSQL", exc)
    app = create_app(MigrationsConfig())
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        try:
            yield app
        finally:
            db.engine.dispose()


def pending_autogenerate_diff() -> list:
    with db.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), db.metadata)


def table_names() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_upgrading_from_empty_to_head_matches_the_models_exactly(empty_database_app):
    upgrade()

    assert table_names() == set(db.metadata.tables)
    assert pending_autogenerate_diff() == []


def test_downgrading_to_base_removes_every_table_and_upgrading_again_works(empty_database_app):
    upgrade()

    downgrade(revision="base")

    assert table_names() == set()
    upgrade()
    assert pending_autogenerate_diff() == []


def test_indexes_carry_the_columns_the_models_include(empty_database_app):
    # Alembic's comparison above does not look at INCLUDE: a page under two inbox filters would
    # silently go back to reading every row.
    upgrade()
    included = {
        index.name: index.dialect_options["postgresql"]["include"]
        for table in db.metadata.tables.values()
        for index in table.indexes
        if index.dialect_options["postgresql"]["include"]
    }
    with db.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"))
        built = {name: definition for name, definition in rows}

    assert "ix_conversations_tenant_status_activity" in included
    for name, columns in included.items():
        assert built[name].endswith(f"INCLUDE ({', '.join(columns)})"), built[name]


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_a_heroku_style_database_url_is_given_the_psycopg_3_driver(scheme):
    assert config.database_url(f"{scheme}://u@h/db") == "postgresql+psycopg://u@h/db"


def test_a_database_url_that_names_its_driver_is_left_alone():
    assert config.database_url("postgresql+psycopg://u:p@h:5432/db") == "postgresql+psycopg://u:p@h:5432/db"
