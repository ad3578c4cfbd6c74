"""uploads remember when a message first carried them: one never sent can be deleted after it expired

Revision ID: 0015a
Revises: 0014a
Create Date: 2026-12-02 07:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015a'
down_revision = '0014a'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('uploads', sa.Column('attached_at', sa.DateTime(timezone=True), nullable=True))
    # Which earlier uploads a message carries is not recorded: all are kept, as they were until now.
    op.execute("UPDATE uploads SET attached_at = inserted_at")
    op.create_index(
        'ix_uploads_unattached',
        'uploads',
        ['public_until'],
        postgresql_where=sa.text('attached_at IS NULL'),
        sqlite_where=sa.text('attached_at IS NULL'),
    )


def downgrade():
    op.drop_index('ix_uploads_unattached', table_name='uploads')
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.drop_column('attached_at')
