"""each inbox filter's index carries the other filters: two filters' page and count read the index alone

Revision ID: 0014a
Revises: 0013a
Create Date: 2026-12-02 07:10:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0014a'
down_revision = '0013a'
branch_labels = None
depends_on = None

# index: (its filter column, the filters it carries)
FILTER_INDEXES = {
    'ix_conversations_tenant_status_activity': ('status', ('channel', 'assigned_to')),
    'ix_conversations_tenant_channel_activity': ('channel', ('status', 'assigned_to')),
    'ix_conversations_tenant_assignee_activity': ('assigned_to', ('status', 'channel')),
}


def _rebuild(name: str, column: str, include: tuple[str, ...]) -> None:
    """Build the replacement beside the old index, then swap: writes to conversations never wait."""
    building = f'{name}_rebuilt'
    included = f" INCLUDE ({', '.join(include)})" if include else ''
    with op.get_context().autocommit_block():
        op.execute(f'DROP INDEX CONCURRENTLY IF EXISTS {building}')  # an earlier attempt's invalid leftover
        op.execute(
            f'CREATE INDEX CONCURRENTLY {building} ON conversations'
            f' (tenant_id, {column}, last_message_at DESC, id DESC){included}'
        )
        op.execute(f'DROP INDEX CONCURRENTLY IF EXISTS {name}')  # IF EXISTS: an attempt cut short here reruns
        op.execute(f'ALTER INDEX {building} RENAME TO {name}')


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return  # SQLite (development) has no INCLUDE; its indexes stay as they are
    for name, (column, include) in FILTER_INDEXES.items():
        _rebuild(name, column, include)


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for name, (column, _) in FILTER_INDEXES.items():
        _rebuild(name, column, ())
