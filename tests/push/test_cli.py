"""`flask --app wsgi push test --user EMAIL`: a test notification, and each device's result printed."""

from tests import factories
from tests.push.conftest import ANDROID_TOKEN, IOS_TOKEN, IOS_TOKEN_2, register


def test_each_devices_result_is_printed(app, apns, fcm, staff):
    ios = register(staff)
    dead = register(staff, token=IOS_TOKEN_2, environment="sandbox")
    android = register(staff, token=ANDROID_TOKEN, platform="android")
    apns.answer(IOS_TOKEN_2, (410, "Unregistered"))

    result = app.test_cli_runner().invoke(args=["push", "test", "--user", "STAFF@acme.test"])

    lines = result.output.splitlines()
    assert f"device {ios.id} ios production …{IOS_TOKEN[-8:]}: sent (200)" in lines
    assert f"device {dead.id} ios sandbox …{IOS_TOKEN_2[-8:]}: unregistered (410 Unregistered)" in lines
    assert f"device {android.id} android …{ANDROID_TOKEN[-8:]}: sent (200)" in lines
    assert result.exit_code == 1  # not every device got it
    assert apns.requests[0]["payload"]["aps"]["alert"]["title"] == "Test notification"


def test_all_sent_exits_zero(app, apns, staff):
    register(staff)

    result = app.test_cli_runner().invoke(args=["push", "test", "--user", staff.email])

    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(": sent (200)")


def test_a_user_without_devices_or_unknown_is_said_so(app, apns, staff):
    runner = app.test_cli_runner()

    assert "has no registered devices" in runner.invoke(args=["push", "test", "--user", staff.email]).output
    unknown = runner.invoke(args=["push", "test", "--user", "nobody@acme.test"])
    assert unknown.exit_code == 1
    assert "No such user" in unknown.output


def test_an_email_in_two_accounts_needs_the_tenant(app, apns, staff):
    other = factories.make_tenant(name="Other")
    namesake = factories.make_user(tenant=other, email=staff.email)
    register(namesake)
    runner = app.test_cli_runner()

    ambiguous = runner.invoke(args=["push", "test", "--user", staff.email])
    chosen = runner.invoke(args=["push", "test", "--user", staff.email, "--tenant", str(other.id)])

    assert ambiguous.exit_code == 1
    assert "add --tenant" in ambiguous.output
    assert chosen.exit_code == 0
    assert chosen.output.strip().endswith(": sent (200)")
