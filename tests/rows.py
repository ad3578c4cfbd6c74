"""Looking at what the database holds, the same way in every test."""

import sqlalchemy as sa

from app.extensions import db


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def one(model, *where):
    db.session.expire_all()
    return db.session.scalars(sa.select(model).where(*where)).one()
