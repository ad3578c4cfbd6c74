"""Column types and mixins shared by every model."""

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

# bigint on PostgreSQL; SQLite only auto-increments a plain INTEGER primary key.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JsonDoc = sa.JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """`moment` with its UTC zone: SQLite hands datetimes back without one (we only store UTC)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Timestamps:
    inserted_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow, nullable=False
    )


def partial_index(name: str, *columns: str, where: str, unique: bool = False) -> sa.Index:
    """An index over the rows matching `where`, on PostgreSQL and on SQLite (development) alike."""
    return sa.Index(name, *columns, unique=unique, postgresql_where=sa.text(where), sqlite_where=sa.text(where))


def search_text(*fields: str | tuple[str, ...]) -> str:
    """SQL for a generated column that joins `fields` for substring search.

    ` | ` keeps fields apart; the columns of a tuple are joined by a space ("first last" matches).
    """

    def field(columns):
        return " || ' ' || ".join(
            f"coalesce({column}, '')" for column in (columns if isinstance(columns, tuple) else (columns,))
        )

    return " || ' | ' || ".join(field(columns) for columns in fields)


def trigram_index(name: str, column: str) -> sa.Index:
    """A pg_trgm GIN index: `ILIKE '%text%'` on `column` without reading the table (PostgreSQL only;
    SQLite, for development, scans)."""
    return sa.Index(name, column, postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"}).ddl_if(
        dialect="postgresql"
    )


def tenant_fk() -> Mapped[int]:
    # No index of its own: each table leads its composite indexes with tenant_id instead.
    return mapped_column(BigId, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)


class TenantOwned:
    """A row that belongs to a tenant: its id, and the tenant every query scopes it by."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
