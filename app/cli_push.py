"""`flask --app wsgi push test --user EMAIL`: a test notification to each of a user's devices."""

import click

from app.errors import DomainError
from app.services import notifications


@click.group(help="Push notifications.")
def push():
    pass


@push.command("test")
@click.option("--user", "email", required=True, help="The user's email.")
@click.option("--tenant", "tenant_id", type=int, help="Only needed when the email is in two accounts.")
def send_test(email, tenant_id):
    """Send a test notification to every device of a user and print each device's result."""
    try:
        results = notifications.send_test(email, tenant_id=tenant_id)
    except DomainError as error:
        raise click.ClickException(error.message) from None
    if not results:
        click.echo(f"{email} has no registered devices.")
    for device, result in results:
        where = " ".join(part for part in (device.platform, device.environment, f"…{device.token[-8:]}") if part)
        detail = " ".join(str(part) for part in (result.status, result.reason) if part)
        click.echo(f"device {device.id} {where}: {result.outcome.value}" + (f" ({detail})" if detail else ""))
    if any(result.outcome.value != "sent" for _, result in results):
        raise SystemExit(1)
