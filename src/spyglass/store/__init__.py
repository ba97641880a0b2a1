"""Persistence: SQLAlchemy models, Alembic migrations, repositories and full-text search."""
