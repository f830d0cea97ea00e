"""Annotators and their invite tokens.

A token is 32 random bytes (256 bits) from `secrets`, shown once; only its SHA-256 is stored.
A fast hash is enough here because the token itself is random and long (no dictionary to try).
"""
from __future__ import annotations

import hashlib
import os
import secrets
from urllib.parse import quote

import duckdb
import pandas as pd

import storage
from storage import annotators as store
from annotate.errors import AnnotateError, AuthError, NotFoundError

ROLES = ("annotator", "researcher", "admin")
BASE_URL_ENV = "ANNOTATE_BASE_URL"


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def invite_link(token: str) -> str:
    """The URL that logs in with `token` (base from $ANNOTATE_BASE_URL, default localhost:8501)."""
    base = os.environ.get(BASE_URL_ENV, "http://localhost:8501").rstrip("/")
    return f"{base}/?token={quote(token)}"


def add_annotator(conn: duckdb.DuckDBPyConnection, name: str, role: str = "annotator") -> tuple[dict, str]:
    """Create an annotator; return (annotator, token). The token is never stored or shown again."""
    name = name.strip()
    if not name:
        raise AnnotateError("An annotator needs a non-empty name")
    if role not in ROLES:
        raise AnnotateError(f"Unknown role '{role}' (roles: {', '.join(ROLES)})")
    cur = storage.cursor(conn)
    if store.get_annotator(cur, name=name) is not None:
        raise AnnotateError(f"Annotator '{name}' already exists")
    token = secrets.token_urlsafe(32)
    annotator_id = storage.write(conn, lambda c: store.insert_annotator(c, name, role, hash_token(token)))
    return store.get_annotator(cur, annotator_id=annotator_id), token


def ensure_annotators(cur: duckdb.DuckDBPyConnection, names: list[str]) -> dict[str, int]:
    """Inside a write transaction: ids for `names`, creating missing ones as inactive annotators
    without a token (people whose labels were imported and who never log in)."""
    ids = store.annotator_ids_by_name(cur, names)
    for name in names:
        if name not in ids:
            ids[name] = store.insert_annotator(cur, name, "annotator", None, is_active=False)
    return ids


def authenticate(conn: duckdb.DuckDBPyConnection, token: str) -> dict:
    """Return the active annotator whose token this is, or raise AuthError."""
    annotator = store.get_annotator(storage.cursor(conn), token_hash=hash_token(token or ""))
    if annotator is None or not annotator["is_active"]:
        raise AuthError("This invite token is not valid (wrong, revoked, or the account is deactivated)")
    return annotator


def get_annotator(conn: duckdb.DuckDBPyConnection, name: str) -> dict:
    """The annotator called `name`, or NotFoundError."""
    annotator = store.get_annotator(storage.cursor(conn), name=name)
    if annotator is None:
        raise NotFoundError(f"No annotator '{name}'")
    return annotator


def set_active(conn: duckdb.DuckDBPyConnection, name: str, is_active: bool) -> None:
    """Activate or deactivate an annotator (a deactivated one cannot log in)."""
    annotator = get_annotator(conn, name)
    storage.write(conn, lambda c: store.set_active(c, annotator["id"], is_active))


def reset_token(conn: duckdb.DuckDBPyConnection, name: str) -> str:
    """Give an annotator a new token (the old one stops working); return it."""
    annotator = get_annotator(conn, name)
    token = secrets.token_urlsafe(32)
    storage.write(conn, lambda c: store.set_token_hash(c, annotator["id"], hash_token(token)))
    return token


def list_annotators(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """All annotators without their token hashes."""
    return store.list_annotators(storage.cursor(conn))
