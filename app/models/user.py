import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db
from app.models.base import TenantOwned, Timestamps

ROLES = ("admin", "staff")


class User(TenantOwned, Timestamps, db.Model):
    __tablename__ = "users"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "email", name="uq_users_tenant_email"),)

    email: Mapped[str] = mapped_column(sa.String(320), nullable=False, index=True)
    name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    role: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="staff")
    password_hash: Mapped[str | None] = mapped_column(sa.String(256))
    # The user's own phone (E.164): click-to-call rings it first, then dials the customer.
    phone: Mapped[str | None] = mapped_column(sa.String(32))

    tenant = relationship("Tenant", lazy="joined")

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def __repr__(self) -> str:
        return f"<User {self.id} tenant={self.tenant_id}>"
