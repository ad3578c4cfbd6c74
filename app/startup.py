"""Refuse to start a production process that would be unsafe: decided once, before anything runs.

"Production" is APP_ENV=production, which is also the default whenever DATABASE_URL is set (the
Procfile stack: web, worker, beat, release). Development is APP_ENV=development, or no
DATABASE_URL at all (SQLite, `scripts/serve.sh`); the test suite runs as APP_ENV=test.
"""

from cryptography.fernet import Fernet

HOW_TO_GENERATE = (
    "Generate a key with:\n"
    "  python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'\n"
    "and set it as ENCRYPTION_KEYS (comma-separated, newest first, when rotating).\n"
    "(For a local run against PostgreSQL, set APP_ENV=development instead.)"
)


class UnsafeConfiguration(RuntimeError):
    """The process must not start with this configuration (the message says why and what to do)."""


def configuration_problems(config) -> list[str]:
    if config.get("APP_ENV") != "production":
        return []
    # SECRET_KEY signs nothing in this API (bearer tokens, no cookies): its one use is deriving the
    # development encryption key, which production never does. ENCRYPTION_KEYS is what must be real.
    problems = []
    keys = [key.strip() for key in (config.get("ENCRYPTION_KEYS") or "").split(",") if key.strip()]
    if not keys:
        problems.append("ENCRYPTION_KEYS is not set (tenants' provider secrets would be encrypted with a public key)")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            problems.append(f"ENCRYPTION_KEYS entry {position} is not a Fernet key (32 url-safe base64-encoded bytes)")
    return problems


def check_configuration(config) -> None:
    if problems := configuration_problems(config):
        raise UnsafeConfiguration(
            "Refusing to start with APP_ENV=production: " + "; ".join(problems) + ".\n" + HOW_TO_GENERATE
        )
