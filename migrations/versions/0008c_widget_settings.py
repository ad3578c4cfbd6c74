"""web chat widget settings on the tenant; visitor tokens stored as digests

Revision ID: 0008c
Revises: 0008a
Create Date: 2026-11-30 10:15:00

"""
import hashlib

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0008c'
down_revision = '0008a'
branch_labels = None
depends_on = None

JsonDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade():
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('widget_allowed_origins', JsonDoc, nullable=True))
        batch_op.add_column(sa.Column('widget_prechat_fields', JsonDoc, nullable=True))
        batch_op.add_column(sa.Column('widget_greeting', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('widget_color', sa.String(length=7), nullable=True))
    # Tokens stored so far were never handed to a visitor (there was no visitor API): replacing
    # each by its digest keeps them unique and means the column only ever holds digests.
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, visitor_token FROM conversations WHERE visitor_token IS NOT NULL"))
    for row_id, token in rows.fetchall():
        connection.execute(
            sa.text("UPDATE conversations SET visitor_token = :digest WHERE id = :id"),
            {"digest": hashlib.sha256(token.encode()).hexdigest(), "id": row_id},
        )


def downgrade():
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_column('widget_color')
        batch_op.drop_column('widget_greeting')
        batch_op.drop_column('widget_prechat_fields')
        batch_op.drop_column('widget_allowed_origins')
