"""`flask --app wsgi seed-demo`: a demo account to try the API with, and a token to call it."""

import os

import click
import sqlalchemy as sa

from app.extensions import db
from app.models import Tenant, User
from app.providers.base import CallOutcome, ProviderMessage
from app.services import accounts, contacts, conversations, inbound, messages

DEMO_TENANT = "Demo Barbershop"
DEMO_PASSWORD = "demo-password"


@click.command("seed-demo")
def seed_demo():
    """Create the demo account (once) and print a fresh token for its admin."""
    tenant = db.session.scalar(sa.select(Tenant).where(Tenant.name == DEMO_TENANT))
    if tenant is None:
        tenant = _create_demo_account()
        click.echo(f"Created demo tenant {tenant.id} with users owner@demo.test / staff@demo.test ({DEMO_PASSWORD})")
    admin = db.session.scalar(sa.select(User).where(User.tenant_id == tenant.id, User.role == "admin"))
    token = accounts.issue_token(admin, "demo")
    click.echo(f"Demo token (shown once): {token}")
    port = os.environ.get("PORT", "5000")
    click.echo(f'Try: curl -H "Authorization: Bearer {token}" http://localhost:{port}/api/v1/conversations')
    click.echo(f"Web chat demo (a sample site with the widget): http://localhost:{port}/widget/demo")
    click.echo(f"Settings for admins: http://localhost:{port}/admin (owner@demo.test / {DEMO_PASSWORD})")


def demo_widget_key() -> str | None:
    """The demo account's widget key, for the demo page (None before `seed-demo` ran)."""
    return db.session.scalar(sa.select(Tenant.widget_key).where(Tenant.name == DEMO_TENANT))


def _create_demo_account() -> Tenant:
    tenant = accounts.create_tenant(DEMO_TENANT)
    accounts.create_user(tenant, email="owner@demo.test", name="Olivia Owner", role="admin", password=DEMO_PASSWORD)
    staff = accounts.create_user(
        tenant, email="staff@demo.test", name="Sam Staff", role="staff", password=DEMO_PASSWORD
    )

    john = contacts.create_contact(
        tenant, first_name="John", last_name="Doe", phone="+15551234567", email="john@example.com"
    )
    maria = contacts.create_contact(tenant, first_name="Maria", last_name="Garcia", phone="+15559876543")
    lee = contacts.create_contact(tenant, first_name="Lee", last_name="Chen", phone="+15557654321")

    inbound.record_inbound(tenant, contact=john, channel="sms", body="Hi! Do you have a slot on Saturday?")
    inbound.record_inbound(tenant, contact=john, channel="sms", body="Morning is best for me.")
    inbound.record_inbound(tenant, contact=maria, channel="whatsapp", body="Can I bring my son along too?")
    voicemail = CallOutcome(
        "voicemail", recording_url="https://example.com/recordings/demo.mp3", recording_duration_seconds=42
    )
    inbound.record_message(tenant, ProviderMessage(channel="voice", call=voicemail), contact=lee)
    visitor = conversations.create_conversation(
        tenant, channel="web", visitor_name="Alex Visitor", visitor_email="alex@example.com"
    )
    inbound.record_inbound(tenant, conversation=visitor, channel="web", body="What are your opening hours?")
    messages.send_message(tenant, visitor.id, staff, messages.Draft("We're open 9-6, Tuesday to Saturday!"))
    return tenant
