"""Secrets at rest: Fernet with a key list (MultiFernet), so keys can rotate without downtime.

ENCRYPTION_KEYS is a comma-separated list of Fernet keys, newest first: the first encrypts, all
decrypt. `flask --app wsgi secrets rotate` re-encrypts everything under the first.
"""

import base64
import hashlib
import logging

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

log = logging.getLogger(__name__)


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with any configured key (the message names no secret)."""


def _fernet() -> MultiFernet:
    raw_keys = [key.strip() for key in current_app.config["ENCRYPTION_KEYS"].split(",") if key.strip()]
    if not raw_keys:
        production = current_app.config.get("APP_ENV") == "production"
        if production or (
            not current_app.debug and not current_app.testing and current_app.config.get("REQUIRE_ENCRYPTION_KEYS")
        ):
            raise RuntimeError("ENCRYPTION_KEYS must be set")
        # Development only: a key derived from SECRET_KEY, so a fresh checkout works without setup.
        derived = base64.urlsafe_b64encode(hashlib.sha256(current_app.config["SECRET_KEY"].encode()).digest())
        raw_keys = [derived.decode()]
    return MultiFernet([Fernet(key) for key in raw_keys])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("A stored secret cannot be decrypted with the configured ENCRYPTION_KEYS.") from exc


def rotate(ciphertext: str) -> str:
    """The same secret, encrypted under the newest key."""
    try:
        return _fernet().rotate(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("A stored secret cannot be decrypted with the configured ENCRYPTION_KEYS.") from exc
