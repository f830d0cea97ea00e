"""The DuckDB store: schema, migrations and every SQL statement of the project.

Modules, one per kind of record: `db` (connections, transactions, migrations), `projects`,
`items`, `annotators`, `sessions` (logins), `labels`, `judgments`, `routing`.
"""
from storage.db import DEFAULT_DB_PATH, StoreError, StoreLockedError, connect, cursor, migrate, resolve_db_path, write

__all__ = ["DEFAULT_DB_PATH", "StoreError", "StoreLockedError", "connect", "cursor", "migrate",
           "resolve_db_path", "write"]
