"""Log in by invite token into a revocable session; slow down clients that keep guessing.

Sessions: a login exchanges the invite token for a new session key (32 random bytes). Only the
key's SHA-256 is stored, in the `sessions` table, so a session survives a reload, a second tab
(the app keeps the key in a cookie) and a server restart. `check_session` re-reads the session
and its annotator on every page run, fragment run and callback: logging out, an expired session
(SESSION_TTL after login), deactivation and a token reset (both delete the annotator's sessions)
end it on the user's next click. The invite token itself is never kept after the login.

Slow-down: failed attempts are counted per client address AND per target (a hash of the first
TARGET_PREFIX characters of the token tried, so that one annotator's token is protected even
from an attacker who rotates addresses). After FREE_FAILURES failures within WINDOW in either
count, each further attempt must wait 2**(failures - FREE_FAILURES) seconds after the latest
failure (capped at MAX_WAIT); attempts during the wait are refused without checking the token.
A successful login never clears failures (they age out of WINDOW), so a user with a valid token
cannot reset the count between guesses. The address count is skipped for UNKNOWN_CLIENT, where
every user would share one bucket. Tokens are 256 random bits, so guessing is hopeless anyway;
the slow-down keeps a misbehaving client from hammering the server and makes attacks visible.

Client addresses: `client_address` takes the address of the connection and trusts a forwarded
header (X-Forwarded-For by default) only when that connection comes from an address listed in
$ANNOTATE_TRUSTED_PROXIES (IPs or CIDR networks).
"""
from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta


import storage
from storage import sessions as store
from storage.db import Connection, Cursor
from annotate.labeling.annotators import authenticate, hash_token
from annotate.clock import utc_now
from annotate.errors import AnnotateError, AuthError

FREE_FAILURES = 5
WINDOW = timedelta(minutes=15)
MAX_WAIT = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=12)
TARGET_PREFIX = 8
SESSION_KEY = "session_key"
LOGGED_IN_AT = "logged_in_at"
EXPIRES_AT = "expires_at"
UNKNOWN_CLIENT = "unknown"
TRUSTED_PROXIES_ENV = "ANNOTATE_TRUSTED_PROXIES"
PROXY_HEADER_ENV = "ANNOTATE_PROXY_HEADER"
DEFAULT_PROXY_HEADER = "X-Forwarded-For"
# uvicorn (Streamlit's server) itself rewrites the connection's address from X-Forwarded-For when the
# connection comes from one of these (its FORWARDED_ALLOW_IPS setting); client_address undoes that.
SERVER_FORWARDERS_ENV = "FORWARDED_ALLOW_IPS"
SERVER_FORWARDERS_DEFAULT = "127.0.0.1,::1"


class TooManyAttemptsError(AuthError):
    """Too many failed logins from this client or for this token; it must wait before trying again."""


class SessionEndedError(AuthError):
    """The session may not continue: logged out, expired, account deactivated, or token reset."""


def login(conn: Connection, token: str, client: str, now: datetime | None = None) -> dict:
    """Exchange an invite token for a new session; return the user with its SESSION_KEY.

    Args:
        client: who is trying (from `client_address`, or UNKNOWN_CLIENT).

    Returns:
        The annotator (id, name, role, is_active, created_at) with SESSION_KEY (the secret to keep
        in the browser's cookie), LOGGED_IN_AT and EXPIRES_AT.

    Raises:
        TooManyAttemptsError: the client or the token's target must wait; the message says how long.
        AuthError: the token is wrong, revoked, or the account is deactivated.
    """
    now = now or utc_now()
    target = token_target(token)
    wait = retry_after(conn, client, target, now)
    if wait > timedelta(0):
        raise TooManyAttemptsError(f"Too many failed logins from this address or with this token; try again in "
                                   f"{int(wait.total_seconds()) + 1} seconds")
    try:
        annotator = authenticate(conn, token)
    except AuthError:
        storage.write(conn, lambda c: _record_failure(c, client, target, now))
        raise
    key = secrets.token_urlsafe(32)

    def start(cur: Cursor) -> None:
        store.delete_expired(cur, now)
        store.insert_session(cur, hash_token(key), annotator["id"], now, now + SESSION_TTL, client)

    storage.write(conn, start)
    return resume_session(conn, key, now)


def _record_failure(cur: Cursor, client: str, target: str, now: datetime) -> None:
    store.delete_failures_before(cur, now - WINDOW)
    store.insert_failure(cur, client, target, now)


def resume_session(conn: Connection, key: str, now: datetime | None = None) -> dict:
    """The user of the session with this key as the store has them now (role included), or raise.

    Used for a session key from a cookie (a reload, a second tab) and, through check_session, on
    every run of a page, fragment or callback.

    Raises:
        SessionEndedError: no such session (logged out, or revoked by deactivation or a token
            reset), the session is older than SESSION_TTL, or the account is deactivated.
    """
    now = now or utc_now()
    session = store.get_session(storage.cursor(conn), hash_token(key or ""))
    if session is None:
        raise SessionEndedError("Your session has ended: you logged out, or an admin revoked your access "
                                "(account deactivated or invite link reset). Log in with your invite link.")
    if now >= session[EXPIRES_AT]:
        raise SessionEndedError(f"Your session expired after {SESSION_TTL.total_seconds() / 3600:g} hours; "
                                f"log in again with your invite link")
    if not session["is_active"]:
        raise SessionEndedError("Your access was revoked (account deactivated); ask an admin for a new invite link")
    return session | {SESSION_KEY: key}


def check_session(conn: Connection, user: dict, now: datetime | None = None) -> dict:
    """Return the logged-in `user` as the store has them now (role included), or raise SessionEndedError."""
    return resume_session(conn, user.get(SESSION_KEY) or "", now)


def logout(conn: Connection, key: str) -> None:
    """End the session with this key (every tab that shares it is logged out on its next click)."""
    storage.write(conn, lambda c: store.delete_session(c, hash_token(key or "")), transaction=False)


def token_target(token: str) -> str:
    """What a login attempt aims at: a short hash of the token's first TARGET_PREFIX characters.

    A hash, so that a mistyped token's beginning is not stored in clear; short (64 bits), since
    it only groups attempts: two tokens share a target only if their prefixes collide.
    """
    return hash_token((token or "")[:TARGET_PREFIX])[:16]


def retry_after(conn: Connection, client: str, target: str, now: datetime) -> timedelta:
    """How long an attempt from `client` at `target` must still wait (zero if it need not).

    The longer of the two waits: failures from this client (unless it is UNKNOWN_CLIENT) and
    failures at this target, each counted within WINDOW.
    """
    cur = storage.cursor(conn)
    counts = [store.recent_failures(cur, now - WINDOW, target=target)]
    if client != UNKNOWN_CLIENT:
        counts.append(store.recent_failures(cur, now - WINDOW, client=client))
    return max(_wait(failures, latest, now) for failures, latest in counts)


def _wait(failures: int, latest: datetime | None, now: datetime) -> timedelta:
    if failures < FREE_FAILURES or latest is None:
        return timedelta(0)
    wait = min(timedelta(seconds=2 ** min(failures - FREE_FAILURES, 20)), MAX_WAIT)
    return max(timedelta(0), latest + wait - now)


def client_address(peer: str | None, headers: Mapping[str, str], trusted_proxies: str | None = None,
                   proxy_header: str | None = None, server_forwarders: str | None = None) -> str:
    """The address a login attempt comes from, trusting a forwarded header only from a listed proxy.

    Args:
        peer: the connection's address as Streamlit reports it (None for loopback or unknown).
        headers: the request headers (names in any case).
        trusted_proxies: comma-separated IPs or networks of reverse proxies whose forwarded header
            is believed (default: $ANNOTATE_TRUSTED_PROXIES; none).
        proxy_header: the header such a proxy sets (default: $ANNOTATE_PROXY_HEADER or
            X-Forwarded-For); with X-Forwarded-For the right-most address that is not a trusted
            proxy is the client.
        server_forwarders: uvicorn's FORWARDED_ALLOW_IPS (default: its environment variable or
            loopback). uvicorn replaces the peer of a connection from those addresses with an
            X-Forwarded-For entry, whoever sent the header; this function puts the real peer back.

    Returns:
        An IP address, or UNKNOWN_CLIENT when there is none (a connection without address).
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    trusted = _Networks(os.environ.get(TRUSTED_PROXIES_ENV, "") if trusted_proxies is None else trusted_proxies)
    forwarders = _Networks(server_forwarders if server_forwarders is not None
                           else os.environ.get(SERVER_FORWARDERS_ENV, SERVER_FORWARDERS_DEFAULT))
    forwarded_for = [_host(entry) for entry in _split(lowered.get("x-forwarded-for", ""))]
    if forwarded_for and peer is not None and peer == forwarders.rightmost_outside(forwarded_for):
        peer = forwarders.first  # uvicorn put a header value in place of the (trusted) peer
    if peer is None:
        peer = "127.0.0.1" if lowered else UNKNOWN_CLIENT  # Streamlit reports loopback as None
    if peer not in trusted:
        return peer
    header = (proxy_header or os.environ.get(PROXY_HEADER_ENV) or DEFAULT_PROXY_HEADER).lower()
    chain = [_host(entry) for entry in _split(lowered.get(header, ""))]
    return trusted.rightmost_outside(chain) or peer


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _host(entry: str) -> str:
    """The address of a forwarded entry without its port ('1.2.3.4:80', '[::1]:80'), as uvicorn reads it."""
    if entry.startswith("[") and "]" in entry:
        return entry[1:entry.index("]")]
    return entry.rsplit(":", 1)[0] if entry.count(":") == 1 else entry


class _Networks:
    """A comma-separated list of IP addresses and networks ('*' matches every address)."""

    def __init__(self, spec: str) -> None:
        entries = _split(spec)
        self.is_everything = "*" in entries
        self.first = next((e for e in entries if e != "*"), "127.0.0.1")
        try:
            self.networks = [ipaddress.ip_network(e, strict=False) for e in entries if e != "*"]
        except ValueError as exc:
            raise AnnotateError(f"{TRUSTED_PROXIES_ENV} / {SERVER_FORWARDERS_ENV}: not an IP address or network "
                                f"in {spec!r} ({exc})") from exc

    def __contains__(self, address: str) -> bool:
        if self.is_everything:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def rightmost_outside(self, chain: list[str]) -> str | None:
        """The right-most address of a forwarded chain that is not in this list (the client as
        far as the listed proxies know), or the left-most when all are listed; None for none."""
        for address in reversed(chain):
            if address not in self:
                return address
        return chain[0] if chain else None
