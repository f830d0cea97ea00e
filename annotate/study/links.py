"""The public study link of a project: open it, revoke it, and print what to paste into the platform.

A link is `BASE/?study=SECRET` plus the platform's participant parameters. Its secret (32 random
bytes) is shown once; the store keeps only its SHA-256, as for invite tokens. One link is open per
project at a time: opening a new one (`replace=True`) revokes the old one, so a link posted on a
platform and then replaced stops admitting anyone new. Participants who entered keep their session.
"""
from __future__ import annotations

import os
import secrets
from datetime import datetime
from urllib.parse import quote

import storage
from storage.db import Connection
from storage import study as store
from annotate.clock import utc_now
from annotate.errors import ConfigError
from annotate.labeling.annotators import BASE_URL_ENV, hash_token
from annotate.projects import Project, get_project, update_config
from annotate.study.errors import StudyError, StudyLinkError
from annotate.study.settings import StudySettings

LINK_PARAM = "study"
PLATFORMS = ("prolific", "mturk", "generic")
CLOSED_MESSAGE = ("This study is closed: the researchers are no longer accepting participants through this link. "
                  "Thank you for your interest.")
# What each platform fills in: Prolific substitutes {{%NAME%}} in the study URL; on MTurk the HIT's
# page passes its own workerId, assignmentId and hitId on to the link (README: Run a crowd study);
# elsewhere `pid`.
PLATFORM_SUFFIX = {
    "prolific": "&PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}",
    "mturk": "",
    "generic": "&pid=PARTICIPANT_ID",
}


def study_url(secret: str, platform: str = "prolific", base_url: str | None = None) -> str:
    """The URL to paste into the platform for `secret`, with its participant-id placeholders.

    Args:
        base_url: the app's public address; $ANNOTATE_BASE_URL wins, and without either the URL
            is relative ('/?study=...').
    """
    if platform not in PLATFORMS:
        raise StudyError(f"Unknown platform '{platform}' (platforms: {', '.join(PLATFORMS)})")
    base = (os.environ.get(BASE_URL_ENV) or base_url or "").rstrip("/")
    return f"{base}/?{LINK_PARAM}={quote(secret)}{PLATFORM_SUFFIX[platform]}"


def open_link(conn: Connection, project: Project, *, replace: bool = False, now: datetime | None = None) -> str:
    """Open the project's study link and return its secret (shown once; only its hash is kept).

    Raises:
        StudyError: a link is already open and `replace` is False.
        ConfigError: the study settings cannot serve participants yet (no completion code; fewer
            training or attention-check items marked than the settings need).
    """
    now = now or utc_now()
    check_ready(conn, project)
    cur = storage.cursor(conn)
    if store.open_link_of(cur, project.id) is not None and not replace:
        raise StudyError(f"Project '{project.name}' already has an open study link (shown once when it was opened). "
                         f"Revoke it, or open a new one with --replace (the old one stops admitting participants)")
    secret = secrets.token_urlsafe(32)

    def write(c) -> None:
        store.revoke_links(c, project.id, now)
        store.insert_link(c, project.id, hash_token(secret), now)

    storage.write(conn, write)
    return secret


def check_ready(conn: Connection, project: Project) -> None:
    """Refuse settings that cannot run a study: no completion code, or too few check items marked.

    Raises:
        ConfigError: naming what is missing and the command that sets it.
    """
    settings, cur = project.config.study, storage.cursor(conn)
    if not settings.completion_code:
        raise ConfigError(f"Project '{project.name}': set a completion code before opening a study link "
                          f"(python -m annotate study settings -p '{project.name}' --completion-code CODE)")
    training = len(store.check_items(cur, project.id, "training"))
    if training < settings.training_items:
        raise ConfigError(f"Project '{project.name}': the study asks for {settings.training_items} training items "
                          f"but {training} are marked (study mark-checks --purpose training)")
    if settings.has_attention_checks and store.check_items(cur, project.id, "attention").empty:
        raise ConfigError(f"Project '{project.name}': the study has attention checks but no attention-check items "
                          f"are marked (study mark-checks --purpose attention)")


def revoke_link(conn: Connection, project: Project, now: datetime | None = None) -> int:
    """Close the project's study link (nobody new can enter); return how many links were open."""
    now = now or utc_now()
    return storage.write(conn, lambda c: store.revoke_links(c, project.id, now))


def link_state(conn: Connection, project: Project) -> dict:
    """{is_open, opened_at} of the project's study link."""
    link = store.open_link_of(storage.cursor(conn), project.id)
    return {"is_open": link is not None, "opened_at": link["created_at"] if link else None}


def project_for_link(conn: Connection, secret: str, *, allow_revoked: bool = False) -> tuple[Project, int]:
    """The project a study link belongs to, and the link's id.

    Args:
        allow_revoked: accept a revoked link too (a participant who entered before it was closed
            comes back to finish; annotate.study.participants.enter decides).

    Raises:
        StudyLinkError: no such link, it was revoked, or the project is archived (a sentence for
            the participant).
    """
    cur = storage.cursor(conn)
    link = store.link_by_hash(cur, hash_token(secret or ""))
    if link is None:
        raise StudyLinkError("This study link is not valid. Please open the study again from the platform's "
                             "study page, or contact the researchers.")
    if link["revoked_at"] is not None and not allow_revoked:
        raise StudyLinkError(CLOSED_MESSAGE)
    project = get_project(conn, store.project_name(cur, link["project_id"]))
    if project.archived_at is not None:
        raise StudyLinkError("This study is closed. Thank you for your interest.")
    return project, int(link["id"])


def is_revoked(conn: Connection, link_id: int) -> bool:
    """Whether the link with this id was revoked (or replaced)."""
    return store.link_revoked(storage.cursor(conn), link_id)


def update_settings(conn: Connection, project: Project, **changes) -> Project:
    """Change some study settings (the others stay), recorded as a new config version.

    Raises:
        ConfigError: an unknown setting, or an invalid value (the field is named).
    """
    unknown = sorted(set(changes) - set(StudySettings.model_fields))
    if unknown:
        raise ConfigError(f"Project '{project.name}': unknown study setting(s) {', '.join(unknown)} "
                          f"(settings: {', '.join(StudySettings.model_fields)})")
    return update_config(conn, project.name, {"study": changes})
