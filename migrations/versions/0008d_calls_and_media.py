"""calls and media: users' phones, call recording setting, calls opt-out, transcripts, call legs

Revision ID: 0008d
Revises: 0008b
Create Date: 2026-11-30 10:50:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0008d'
down_revision = '0008b'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sa.String(length=32), nullable=True))
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('record_calls', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('calls_opted_out_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('transcript', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('transcript_next_check_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column(
                'call_details',
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
                nullable=True,
            )
        )


    where = "channel = 'voice' AND recording_url IS NOT NULL AND transcript IS NULL"
    op.create_index(
        'ix_messages_transcript_due',
        'messages',
        ['inserted_at'],
        unique=False,
        postgresql_where=sa.text(where),
        sqlite_where=sa.text(where),
    )


def downgrade():
    op.drop_index('ix_messages_transcript_due', table_name='messages')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('transcript_next_check_at')
        batch_op.drop_column('call_details')
        batch_op.drop_column('transcript')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('calls_opted_out_at')
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_column('record_calls')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('phone')
