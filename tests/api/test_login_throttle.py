"""Guessing a password is slow from any number of addresses, and says nothing about who has an account."""

from config import Config
from tests.api.helpers import error_of

LOGIN = "/api/v1/auth/login"


def from_address(n: int) -> dict:
    return {"REMOTE_ADDR": f"203.0.113.{n}"}


def test_rotating_addresses_does_not_give_unlimited_guesses_at_one_account(client, admin):
    wrong = {"email": "admin@acme.test", "password": "guess"}

    answers = [client.post(LOGIN, json=wrong, environ_base=from_address(n)).status_code for n in range(11)]
    right_password = client.post(
        LOGIN, json={"email": "admin@acme.test", "password": "pw-123456"}, environ_base=from_address(99)
    )

    assert answers == [401] * 10 + [429]
    assert right_password.status_code == 429  # the account is held for the minute, whoever asks
    assert error_of(right_password)["code"] == "rate_limited"


def test_an_unknown_email_is_throttled_exactly_like_a_known_one(client, admin):
    def attempts(email):
        body = {"email": email, "password": "guess"}
        return [client.post(LOGIN, json=body, environ_base=from_address(n)).status_code for n in range(11)]

    assert attempts("admin@acme.test") == attempts("nobody@acme.test") == [401] * 10 + [429]


def test_the_account_throttle_does_not_hold_other_accounts(client, admin, staff):
    for n in range(11):
        client.post(LOGIN, json={"email": "admin@acme.test", "password": "guess"}, environ_base=from_address(n))

    response = client.post(
        LOGIN, json={"email": "staff@acme.test", "password": "pw-123456"}, environ_base=from_address(50)
    )

    assert response.status_code == 201


def test_successful_sign_ins_do_not_count_against_the_account(client, admin):
    answers = [
        client.post(
            LOGIN, json={"email": "admin@acme.test", "password": "pw-123456"}, environ_base=from_address(n)
        ).status_code
        for n in range(12)
    ]

    assert answers == [201] * 12


def test_forwarded_headers_are_not_trusted_by_default(client, admin):
    assert Config.PROXY_HOPS == 0
    wrong = {"email": "nobody@acme.test", "password": "guess"}

    # One client pretending to be eleven: the address the throttle sees is still its own.
    answers = [
        client.post(LOGIN, json={**wrong, "email": f"u{n}@acme.test"}, headers={"X-Forwarded-For": f"198.51.100.{n}"})
        for n in range(11)
    ]

    assert [response.status_code for response in answers] == [401] * 10 + [429]
