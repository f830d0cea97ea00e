"""Annotators and their invite tokens.

A token is 32 random bytes (256 bits) from `secrets`, shown once; only its SHA-256 is stored.
A fast hash is enough here because the token itself is random and long (no dictionary to try).
"""
from __future__ import annotations

import hashlib
import os
import secrets
from urllib.parse import quote

import pandas as pd

import storage
from storage import annotators as store, sessions as session_store
from storage.db import Connection, Cursor
from annotate.clock import utc_now
from annotate.errors import AnnotateError, AuthError, NotFoundError
from annotate.text_checks import refuse_nul

ROLES = ("annotator", "researcher", "admin")
BASE_URL_ENV = "ANNOTATE_BASE_URL"


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


RELATIVE_LINK_NOTE = ("links start at the address the app is served on, the URL `streamlit run` prints; "
                      f"set {BASE_URL_ENV} to print full links")


def invite_link(token: str, base_url: str | None = None) -> str:
    """The URL that logs in with `token`.

    Args:
        base_url: the address the app is served on (the app passes the one its browser uses);
            $ANNOTATE_BASE_URL wins over it, so that a deployment behind a proxy prints its public
            address. Without either the link is relative ('/?token=...'): no port is guessed.
    """
    base = (os.environ.get(BASE_URL_ENV) or base_url or "").rstrip("/")
    return f"{base}/?token={quote(token)}"


def shown_once(what: str) -> str:
    """A heading for printed invite links: shown once, and what they are relative to (unless
    $ANNOTATE_BASE_URL gives full links)."""
    return f"{what} (shown once{'' if os.environ.get(BASE_URL_ENV) else '; ' + RELATIVE_LINK_NOTE}):"


def add_annotator(conn: Connection, name: str, role: str = "annotator") -> tuple[dict, str]:
    """Create an annotator; return (annotator, token). The token is never stored or shown again."""
    name = name.strip()
    if not name:
        raise AnnotateError("An annotator needs a non-empty name")
    refuse_nul(name, "An annotator name")
    if role not in ROLES:
        raise AnnotateError(f"Unknown role '{role}' (roles: {', '.join(ROLES)})")
    cur = storage.cursor(conn)
    if store.get_annotator(cur, name=name) is not None:
        raise AnnotateError(f"Annotator '{name}' already exists")
    token = secrets.token_urlsafe(32)
    annotator_id = storage.write(conn, lambda c: store.insert_annotator(c, name, role, hash_token(token)))
    return store.get_annotator(cur, annotator_id=annotator_id), token


def ensure_annotators(cur: Cursor, names: list[str]) -> dict[str, int]:
    """Inside a write transaction: ids for `names`, creating missing ones as inactive annotators
    without a token (people whose labels were imported and who never log in)."""
    ids = store.annotator_ids_by_name(cur, names)
    for name in names:
        if name not in ids:
            ids[name] = store.insert_annotator(cur, name, "annotator", None, is_active=False)
    return ids


def authenticate(conn: Connection, token: str) -> dict:
    """Return the active annotator whose token this is, or raise AuthError."""
    annotator = store.get_annotator(storage.cursor(conn), token_hash=hash_token(token or ""))
    if annotator is None or not annotator["is_active"]:
        raise AuthError("This invite token is not valid (wrong, revoked, or the account is deactivated)")
    return annotator


def get_annotator(conn: Connection, name: str) -> dict:
    """The annotator called `name`, or NotFoundError."""
    annotator = store.get_annotator(storage.cursor(conn), name=name)
    if annotator is None:
        raise NotFoundError(f"No annotator '{name}'")
    return annotator


def set_active(conn: Connection, name: str, is_active: bool) -> None:
    """Activate or deactivate an annotator. Deactivation also ends their open sessions (on their
    next click) so that a later reactivation does not revive them."""
    annotator = get_annotator(conn, name)

    def update(cur: Cursor) -> None:
        store.set_active(cur, annotator["id"], is_active)
        if not is_active:
            session_store.delete_annotator_sessions(cur, annotator["id"])

    storage.write(conn, update)


def reset_token(conn: Connection, name: str) -> str:
    """Give an annotator a new token and return it: the old invite link stops working and their
    open sessions end on their next click (a leaked link may have been used)."""
    annotator = get_annotator(conn, name)
    if annotator["kind"] != "account":
        what = ("a study participant (they enter through the study link)" if annotator["kind"] == "participant"
                else "a rater imported from a file")
        raise AnnotateError(f"'{name}' is {what}, not an account that logs in")
    token = secrets.token_urlsafe(32)

    def update(cur: Cursor) -> None:
        store.set_token_hash(cur, annotator["id"], hash_token(token))
        session_store.delete_annotator_sessions(cur, annotator["id"])

    storage.write(conn, update)
    return token


def end_sessions(conn: Connection, name: str) -> int:
    """Log an annotator out everywhere (their invite link keeps working); return how many sessions ended."""
    annotator = get_annotator(conn, name)
    return storage.write(conn, lambda c: session_store.delete_annotator_sessions(c, annotator["id"]))


def list_annotators(conn: Connection) -> pd.DataFrame:
    """All annotators without their token hashes, with `sessions`: how many open sessions each has."""
    cur = storage.cursor(conn)
    frame = store.list_annotators(cur)
    open_sessions = session_store.count_sessions(cur, utc_now())
    return frame.assign(sessions=[open_sessions.get(int(i), 0) for i in frame["id"]])
