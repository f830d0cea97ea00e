"""Entering a crowd study through its public link, and what a participant may see.

A visitor who opens `/?study=SECRET&PROLIFIC_PID=...` (or MTurk's workerId / assignmentId / hitId,
or `pid`) becomes that participant (annotate.study.participants.enter_from_params: the same id
always comes back to the same annotator) and gets a login session like an invite link gives
(pages.session.begin): a reload or a later visit continues where they left. The link's parameters
leave the address bar like the invite token (pages.session.URL_SECRETS).

A participant sees one page (pages/participant.py: consent, instructions, the items, their code),
without the sidebar: no project list, no history (whose items could be matched across people),
no researcher page. A link that cannot admit them (revoked, full, no participant id) shows a page
with the reason instead of the login form: participants have no invite token to type.
"""
from __future__ import annotations

import hashlib
import json

import streamlit as st

from annotate.study import participants
from annotate.study.errors import StudyError
from annotate.study.links import LINK_PARAM
from annotate.study.participants import Participant
from pages import session

LINK_SEEN = "study_link_seen"     # hash of the study link's parameters this browser session already used
PROBLEM = "study_link_problem"    # why the link could not admit this visitor, for the message page
PARTICIPANT_PAGE = "pages/participant.py"


def has_study_link() -> bool:
    """Whether this page was opened through a study link (`?study=...`)."""
    return LINK_PARAM in st.query_params


def enter_from_link() -> dict | None:
    """The participant's user (a new session in this browser) for the study link in the URL.

    The URL may keep the parameters for a few runs until the browser removes them, so a link is
    used once per browser session (LINK_SEEN); after that the session in effect is returned. On a
    refusal the reason is kept under PROBLEM and None is returned. A participant who entered before
    the link was closed comes back in (annotate.study.participants.enter) and may finish.
    """
    params = {name: st.query_params.get(name) for name in st.query_params.keys()}
    seen = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
    if st.session_state.get(LINK_SEEN) == seen:
        return session.current_user() or session.resume_from_cookie()
    st.session_state[LINK_SEEN] = seen
    conn = session.get_conn()
    try:
        participant = participants.enter_from_params(conn, params)
    except StudyError as exc:  # unknown or closed link (for a new id), full, or no usable participant id
        st.session_state[PROBLEM] = str(exc)
        return None
    st.session_state.pop(PROBLEM, None)
    user = session.begin(participants.start_session(conn, participant, session.client_address()))
    st.session_state[session.PROJECT] = participant.project_name
    return user


def participant_of(user: dict) -> Participant | None:
    """The logged-in user's participant record, or None for an account (invited by hand)."""
    return participants.participant_of(session.get_conn(), user["id"])


def problem_page() -> None:
    """The page for a study link that cannot admit the visitor: the reason, in words."""
    st.title("Study")
    st.warning(st.session_state.get(PROBLEM) or "This study link could not be opened.", icon=":material/info:")
    session.run_browser_actions()


def has_problem() -> bool:
    """Whether the last study link opened in this browser session was refused."""
    return bool(st.session_state.get(PROBLEM))


def run_participant(participant: Participant) -> None:
    """Serve a participant their one page: no sidebar, no navigation, their study's project only."""
    st.session_state[session.PROJECT] = participant.project_name
    navigation = st.navigation([st.Page(PARTICIPANT_PAGE, title="Study", icon=":material/rate_review:",
                                        default=True)], position="hidden")
    session.run_browser_actions()  # before the page, which may st.stop()
    navigation.run()
