"""Alembic environment for the `trade_execution` branch."""
