"""the inbox at a million messages: unread counts kept by triggers, trigram search, indexes that order each page

Revision ID: 0009a
Revises: 0008d2
Create Date: 2026-11-30 13:20:00

"""
from alembic import op
import sqlalchemy as sa

from app.models.unread_triggers import POSTGRESQL_TRIGGERS, SQLITE_TRIGGERS, DROP_TRIGGERS, recount_unread


# revision identifiers, used by Alembic.
revision = '0009a'
down_revision = '0008d2'
branch_labels = None
depends_on = None

CONTACT_SEARCH = (
    "coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' | ' || coalesce(email, '')"
    " || ' | ' || coalesce(phone, '')"
)
CONVERSATION_SEARCH = (
    "coalesce(visitor_name, '') || ' | ' || coalesce(visitor_email, '') || ' | ' || coalesce(visitor_phone, '')"
    " || ' | ' || coalesce(phone_number, '')"
)
REPLACED_INDEXES = {  # old name: its columns, for the downgrade
    'ix_conversations_tenant_status_activity': ['tenant_id', 'status', sa.text('last_message_at DESC')],
    'ix_conversations_tenant_channel': ['tenant_id', 'channel'],
    'ix_conversations_tenant_assignee': ['tenant_id', 'assigned_to'],
}
ACTIVITY_INDEXES = {
    'ix_conversations_tenant_status_activity': 'status',
    'ix_conversations_tenant_channel_activity': 'channel',
    'ix_conversations_tenant_assignee_activity': 'assigned_to',
}


def _postgresql() -> bool:
    return op.get_bind().dialect.name == 'postgresql'


def upgrade():
    # The inbox's keyset cursor compares (last_message_at, id): no NULLs to sort differently per database.
    op.execute("UPDATE conversations SET last_message_at = inserted_at WHERE last_message_at IS NULL")
    if _postgresql():  # SQLite (development) cannot alter a column in place; the app always sets it there
        op.alter_column('conversations', 'last_message_at', existing_type=sa.DateTime(timezone=True), nullable=False)
    for name in REPLACED_INDEXES:
        op.drop_index(name, table_name='conversations')
    for name, column in ACTIVITY_INDEXES.items():
        op.create_index(name, 'conversations', ['tenant_id', column, sa.text('last_message_at DESC'), sa.text('id DESC')])
    op.add_column('conversations', sa.Column('unread_count', sa.Integer(), server_default='0', nullable=False))
    # STORED on PostgreSQL (what the trigram index reads); SQLite can only add a VIRTUAL one.
    stored = _postgresql()
    op.add_column('conversations', sa.Column('search_text', sa.Text(), sa.Computed(CONVERSATION_SEARCH, persisted=stored)))
    op.add_column('contacts', sa.Column('search_text', sa.Text(), sa.Computed(CONTACT_SEARCH, persisted=stored)))
    op.create_index(
        'ix_conversations_unread',
        'conversations',
        ['tenant_id', 'assigned_to', 'unread_count'],
        postgresql_where=sa.text("unread_count > 0 AND status <> 'archived'"),
        sqlite_where=sa.text("unread_count > 0 AND status <> 'archived'"),
    )
    op.create_index('ix_contacts_tenant_name', 'contacts', ['tenant_id', 'first_name', 'last_name', 'id'])
    op.create_table(
        'unread_tallies',
        sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('messages', sa.Integer(), server_default='0', nullable=False),
        sa.Column('conversations', sa.Integer(), server_default='0', nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('tenant_id', 'channel'),
    )
    if _postgresql():
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for table in ('contacts', 'conversations'):
            op.create_index(
                f'ix_{table}_search_trgm',
                table,
                ['search_text'],
                postgresql_using='gin',
                postgresql_ops={'search_text': 'gin_trgm_ops'},
            )
        for statement in POSTGRESQL_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    # With the triggers in place (they lock both tables until this migration commits), count once.
    recount_unread(op.get_bind())


def downgrade():
    for statement in DROP_TRIGGERS[op.get_bind().dialect.name]:
        op.execute(statement)
    op.drop_table('unread_tallies')
    if _postgresql():
        op.drop_index('ix_conversations_search_trgm', table_name='conversations')
        op.drop_index('ix_contacts_search_trgm', table_name='contacts')
    op.drop_index('ix_conversations_unread', table_name='conversations')
    op.drop_index('ix_contacts_tenant_name', table_name='contacts')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('search_text')
    for name in ACTIVITY_INDEXES:
        op.drop_index(name, table_name='conversations')
    for name, columns in REPLACED_INDEXES.items():
        op.create_index(name, 'conversations', columns)
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('search_text')
        batch_op.drop_column('unread_count')
    if _postgresql():
        op.alter_column('conversations', 'last_message_at', existing_type=sa.DateTime(timezone=True), nullable=True)
