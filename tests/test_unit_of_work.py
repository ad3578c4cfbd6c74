"""One commit per use case: inner use cases join the outer one, a failure anywhere leaves nothing behind."""

import pytest
import sqlalchemy as sa

from app.errors import Conflict
from app.extensions import db
from app.models import Contact
from app.services.contacts import create_contact
from app.services.unit_of_work import use_case


def contacts_named(tenant, name: str) -> int:
    db.session.expire_all()
    return db.session.scalar(
        sa.select(sa.func.count(Contact.id)).where(Contact.tenant_id == tenant.id, Contact.first_name == name)
    )


def test_a_use_case_that_fails_after_an_inner_one_leaves_nothing_of_either(tenant):
    @use_case
    def import_two_then_fail():
        create_contact(tenant, first_name="Ana", phone="+14155550101")
        create_contact(tenant, first_name="Ana", phone="+14155550102")
        raise RuntimeError("the third could not be read")

    with pytest.raises(RuntimeError):
        import_two_then_fail()

    assert contacts_named(tenant, "Ana") == 0


def test_inner_use_cases_commit_with_the_outer_one(tenant):
    @use_case
    def import_two():
        create_contact(tenant, first_name="Ben", phone="+14155550103")
        create_contact(tenant, first_name="Ben", phone="+14155550104")

    import_two()

    assert contacts_named(tenant, "Ben") == 2


def test_a_unique_constraint_at_the_commit_becomes_the_conflict_the_use_case_names(tenant):
    create_contact(tenant, first_name="Cy", phone="+14155550105")

    with pytest.raises(Conflict) as conflict:
        create_contact(tenant, first_name="Cy again", phone="+14155550105")

    assert (conflict.value.code, conflict.value.fields) == (
        "contact_exists",
        {"phone": ["Already used by another contact."]},
    )
    assert contacts_named(tenant, "Cy") == 1


def test_a_use_case_that_keeps_what_it_loaded_reads_nothing_back_after_its_commit(tenant):
    @use_case(keep_loaded=True)
    def add_dee():
        contact = Contact(tenant_id=tenant.id, first_name="Dee", phone="+14155550106")
        db.session.add(contact)
        return contact

    contact = add_dee()
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert (contact.first_name, contact.phone) == ("Dee", "+14155550106")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert statements == []
    assert db.session().expire_on_commit  # only that use case kept its objects: the next one expires them again
    assert contacts_named(tenant, "Dee") == 1
