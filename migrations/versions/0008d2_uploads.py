"""uploads, the PostgreSQL file store, and inbound media copied into it

Revision ID: 0008d2
Revises: 0008d
Create Date: 2026-11-30 10:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008d2'
down_revision = '0008d'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'stored_blobs',
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('content_type', sa.String(length=100), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('inserted_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_table(
        'uploads',
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('filename', sa.String(length=40), nullable=False),
        sa.Column('content_type', sa.String(length=100), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('storage_key', sa.String(length=200), nullable=False),
        sa.Column('uploaded_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
        sa.Column('public_until', sa.DateTime(timezone=True), nullable=False),
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('inserted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['uploaded_by'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token'),
    )
    op.create_index('ix_uploads_tenant', 'uploads', ['tenant_id', 'id'], unique=False)
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('media_copy_claimed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('media_copied_at', sa.DateTime(timezone=True), nullable=True))
    where = "direction = 'inbound' AND media_copied_at IS NULL AND attachments <> '[]'"
    op.create_index(
        'ix_messages_media_to_copy',
        'messages',
        ['inserted_at'],
        unique=False,
        postgresql_where=sa.text(where),
        sqlite_where=sa.text(where),
    )


def downgrade():
    op.drop_index('ix_messages_media_to_copy', table_name='messages')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('media_copied_at')
        batch_op.drop_column('media_copy_claimed_at')
    op.drop_index('ix_uploads_tenant', table_name='uploads')
    op.drop_table('uploads')
    op.drop_table('stored_blobs')
