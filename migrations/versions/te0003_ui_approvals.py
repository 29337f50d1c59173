"""trade_approvals: the human decisions awaited on the /ui confirmation page.

Revision ID: te0003_ui
Revises: te0002
Create Date: 2026-11-30

One row per preview handed to the operator (EXECUTE_CONFIRMATION=browser). It lives in
PostgreSQL so that every process (MCP servers, API servers) agrees on what is pending.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "te0003_ui"
down_revision: str | None = "te0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trade_approvals",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("preview_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("status", sa.String(16), server_default=sa.text("'PENDING'"), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("broker_provider", sa.String(16), nullable=False),
        sa.Column("is_paper", sa.Boolean(), nullable=False),
        sa.Column("account_label", sa.String(200), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("outcome_code", sa.String(32), nullable=True),
        sa.Column("outcome_message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_trade_approvals"),
        sa.UniqueConstraint("preview_id", name="uq_trade_approvals_preview_id"),
        sa.CheckConstraint(
            "status IN ('PENDING', 'CONFIRMED', 'DECLINED', 'EXPIRED')", name=op.f("ck_trade_approvals_status")
        ),
    )
    op.create_index("ix_trade_approvals_status_requested_at", "trade_approvals", ["status", "requested_at"])


def downgrade() -> None:
    op.drop_index("ix_trade_approvals_status_requested_at", table_name="trade_approvals")
    op.drop_table("trade_approvals")
