from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, synonym

from app.extensions import db
from app.models.base import TenantOwned, Timestamps, partial_index, search_text, trigram_index


class Contact(TenantOwned, Timestamps, db.Model):
    __tablename__ = "contacts"
    __table_args__ = (
        # One contact per phone number in a tenant: inbound messages and sends find it by phone.
        sa.Index("uq_contacts_tenant_phone", "tenant_id", "phone", unique=True),
        sa.Index("ix_contacts_tenant_email", "tenant_id", "email"),
        # The contact list's order, so a page (even a deep one) reads only its rows.
        sa.Index("ix_contacts_tenant_name", "tenant_id", "first_name", "last_name", "id"),
        # One contact per GHL contact: webhooks and the sync find it by this id.
        partial_index(
            "uq_contacts_tenant_ghl_contact",
            "tenant_id",
            "ghl_contact_id",
            where="ghl_contact_id IS NOT NULL",
            unique=True,
        ),
        trigram_index("ix_contacts_search_trgm", "search_text"),
    )

    first_name: Mapped[str | None] = mapped_column(sa.String(100))
    last_name: Mapped[str | None] = mapped_column(sa.String(100))
    phone: Mapped[str | None] = mapped_column(sa.String(32))  # E.164
    email: Mapped[str | None] = mapped_column(sa.String(320))
    ghl_contact_id: Mapped[str | None] = mapped_column(sa.String(64))
    # The provider's own id for this person. Only GHL keeps contacts, and the seed's API names the
    # column after it; the services speak of the provider's id.
    provider_contact_id = synonym("ghl_contact_id")
    # Set when the contact texts STOP (or the provider says they did); cleared by START.
    sms_opted_out_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    # What `search=` matches (name, email, phone), in one column a trigram index serves.
    search_text: Mapped[str] = mapped_column(
        sa.Text, sa.Computed(search_text(("first_name", "last_name"), "email", "phone"), persisted=True)
    )

    # Set when the contact asked not to be called (staff record it): click-to-call refuses them.
    # Separate from texts: STOP is a texting keyword and says nothing about calls.
    calls_opted_out_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    @property
    def calls_opted_out(self) -> bool:
        return self.calls_opted_out_at is not None

    @property
    def sms_opted_out(self) -> bool:
        return self.sms_opted_out_at is not None

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part) or (self.phone or "")
