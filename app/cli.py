"""Operator commands: start from nothing, with `flask --app wsgi ...`."""

import logging

import click
from flask import Flask

from app.crypto import SecretUnreadable
from app.errors import DomainError
from app.extensions import db
from app.providers.base import ProviderError
from app.services import accounts
from app.services.ghl_sync import NotAGhlTenant

log = logging.getLogger(__name__)
# What an operator can get wrong (or a provider can refuse): one line saying so, not a traceback.
OPERATOR_ERRORS = (DomainError, NotAGhlTenant, SecretUnreadable, ProviderError)


class OperatorGroup(click.Group):
    """A command group whose expected failures end as `Error: <message>` and exit status 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except OPERATOR_ERRORS as exc:
            db.session.rollback()
            raise click.ClickException(_describe(exc)) from exc


def _describe(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
    fields = getattr(exc, "fields", None)
    if fields:
        message += " " + "; ".join(f"{name}: {' '.join(map(str, errors))}" for name, errors in fields.items())
    return message


def register_cli(app: Flask) -> None:
    from app.cli_push import push
    from app.demo import seed_demo

    app.cli.add_command(tenants)
    app.cli.add_command(users)
    app.cli.add_command(tokens)
    app.cli.add_command(seed_demo)
    app.cli.add_command(secrets)
    app.cli.add_command(webhooks)
    app.cli.add_command(ghl)
    app.cli.add_command(periodic_jobs)
    app.cli.add_command(push)
    app.cli.add_command(recount_unread)


@click.group(cls=OperatorGroup, help="Manage tenants (accounts).")
def tenants():
    pass


@tenants.command("create")
@click.option("--name", required=True)
def create_tenant(name):
    tenant = accounts.create_tenant(name)
    click.echo(f"Created tenant {tenant.id} ({tenant.name})")


@click.group(cls=OperatorGroup, help="Manage users.")
def users():
    pass


@users.command("create")
@click.option("--tenant", "tenant_id", type=int, required=True)
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["admin", "staff"]), default="staff", show_default=True)
@click.password_option(help="Prompted for when not given.")
def create_user(tenant_id, email, name, role, password):
    tenant = accounts.get_tenant(tenant_id)
    user = accounts.create_user(tenant, email=email, name=name, role=role, password=password)
    click.echo(f"Created user {user.id} <{user.email}> ({user.role}) in tenant {tenant.id}")


@click.group(cls=OperatorGroup, help="Manage API tokens.")
def tokens():
    pass


@tokens.command("create")
@click.option("--tenant", "tenant_id", type=int, required=True)
@click.option("--user", "user_id", type=int, required=True)
@click.option("--name", default="cli", show_default=True)
def create_token(tenant_id, user_id, name):
    """Print a new token for the user. It is shown this once: only its hash is stored."""
    user = accounts.get_user(accounts.get_tenant(tenant_id), user_id)
    click.echo(accounts.issue_token(user, name))


@click.group(cls=OperatorGroup, help="Manage encrypted secrets.")
def secrets():
    pass


@secrets.command("rotate")
def rotate_secrets():
    """Re-encrypt every stored secret under the first key of ENCRYPTION_KEYS (keep the old keys listed until done)."""
    from app.services.settings import rotate_secrets as rotate

    click.echo(f"Re-encrypted {rotate()} secrets under the newest key.")


@click.group(cls=OperatorGroup, help="Inspect and replay provider webhooks.")
def webhooks():
    pass


@webhooks.command("replay")
@click.option("--id", "event_ids", type=int, multiple=True, help="An event id (repeatable).")
@click.option("--failed", is_flag=True, help="Every event whose processing failed.")
def replay_webhooks(event_ids, failed):
    """Process stored events again. Safe to repeat: a message already stored is not stored twice."""
    from app.services import webhook_events

    ids = webhook_events.events_to_replay(event_ids=list(event_ids), failed=failed)
    if not ids:
        raise click.UsageError("Nothing to replay: give --id N or --failed.")
    for event_id in ids:
        click.echo(f"event {event_id}: {webhook_events.process_event(event_id, force=True)}")


@webhooks.command("sample-twilio")
@click.option("--tenant", "tenant_id", type=int, required=True)
@click.option("--from", "sender", default="+15557654321", show_default=True, help="The customer's number.")
@click.option("--body", default="Hi, is my order ready?", show_default=True)
@click.option("--url", "base_url", default=None, help="Where the service runs (default: PUBLIC_BASE_URL).")
def sample_twilio(tenant_id, sender, body, base_url):
    """Print a curl command that posts a correctly signed inbound SMS, as Twilio would."""
    from app.services.webhook_samples import signed_twilio_sms

    click.echo(signed_twilio_sms(accounts.get_tenant(tenant_id), sender=sender, body=body, base_url=base_url))


@click.group(cls=OperatorGroup, help="GoHighLevel two-way sync.")
def ghl():
    pass


@ghl.command("sync")
@click.option("--tenant", "tenant_id", type=int, required=True)
@click.option("--max-conversations", type=int, default=200, show_default=True)
@click.option("--restart", is_flag=True, help="Start from the newest conversation instead of resuming.")
def sync_ghl(tenant_id, max_conversations, restart):
    """Backfill the tenant's recent GHL conversations and messages. Safe to run again."""
    from app.cli_progress import sync_progress
    from app.services.ghl_sync import sync_tenant_waiting

    with sync_progress(max_conversations):
        state = sync_tenant_waiting(tenant_id, max_conversations=max_conversations, restart=restart)
    click.echo(f"Imported {state['conversations']} conversations, {state['messages']} messages seen.")


@click.command("recount-unread")
@click.option("--tenant-id", type=int, help="Only this tenant (default: all).")
def recount_unread(tenant_id):
    """Count unread messages again from the messages themselves (after a bulk load that bypassed the
    triggers, or a repair); the counts are otherwise kept exact by the database."""
    from app.models.unread_triggers import recount_unread as recount

    with db.engine.begin() as connection:
        recount(connection, tenant_id)
    click.echo("Unread counts recounted.")


@click.command("periodic-jobs")
@click.option("--every", type=float, default=15.0, show_default=True, help="Seconds between rounds.")
@click.option("--once", is_flag=True, help="One round, then exit.")
def periodic_jobs(every, once):
    """Run beat's jobs in this process: for development without Redis (production runs celery beat)."""
    import time

    from app.services import delivery, uploads, webhook_events

    while True:
        try:
            swept = delivery.sweep_unsent()
            polled = delivery.poll_statuses()
            retried = webhook_events.retry_unprocessed()
            delivery.purge_idempotency_keys()
            uploads.purge_unattached()
            if swept or polled or retried:
                click.echo(f"re-enqueued {swept} sends, {retried} webhook events; {polled} status checks")
        except Exception:  # e.g. SQLite busy with the web process: try again next round
            db.session.rollback()
            log.exception("periodic-jobs.round-failed")
        if once:
            return
        time.sleep(every)
