"""Admin: invite people, give them a new invite link (shown once), log them out, deactivate or
reactivate them, and follow their progress.

Every action is a widget callback wrapped in `session.guard("admin")`: a callback runs before the
page script, so it checks the session itself (an admin deactivated in another tab can act no more).
"""
import streamlit as st

from annotate.errors import AnnotateError
from annotate.labeling import annotators, assignment
from annotate.labeling.item_text import escape_markdown
from pages import session

INVITE = "admin_invite"    # (who, link) shown once, on the run after the action
MESSAGE = "admin_message"  # (kind, text) shown once
NAME, ROLE, WHO = "admin_name", "admin_role", "admin_who"
PROGRESS_COLUMNS = {"annotator": "Name", "role": "Role", "is_active": "Active", "project": "Project",
                    "labels": "Labels", "today": "Today", "skips": "Skips", "flags": "Flags",
                    "median_seconds": "Median seconds per label", "last_event_at": "Last label"}


@session.guard("admin")
def invite() -> None:
    """Create an account and keep its invite link for the next run (the only time it is shown)."""
    try:
        annotator, token = annotators.add_annotator(session.get_conn(), st.session_state.get(NAME, ""),
                                                    st.session_state[ROLE])
    except AnnotateError as exc:
        st.session_state[MESSAGE] = ("error", str(exc))
        return
    st.session_state[INVITE] = (annotator["name"], session.invite_link(token))


@session.guard("admin")
def act(action: str) -> None:
    """Apply one of ACTIONS to the person chosen under WHO."""
    name = st.session_state.get(WHO)
    if not name:
        st.session_state[MESSAGE] = ("warning", "Choose a person first.")
        return
    conn, shown = session.get_conn(), escape_markdown(name)  # a name is never markup (no image is fetched)
    try:
        if action == "link":
            st.session_state[INVITE] = (name, session.invite_link(annotators.reset_token(conn, name)))
            st.session_state[MESSAGE] = ("info", f"{shown}'s old link no longer works and their open sessions ended.")
        elif action == "logout":
            ended = annotators.end_sessions(conn, name)
            st.session_state[MESSAGE] = ("info", f"Ended {ended} open session(s) of {shown}.")
        else:
            annotators.set_active(conn, name, action == "reactivate")
            st.session_state[MESSAGE] = ("info", f"{shown} is now {'active' if action == 'reactivate' else 'deactivated'}.")
    except AnnotateError as exc:
        st.session_state[MESSAGE] = ("error", str(exc))


session.require_role("admin")
conn = session.get_conn()

st.header("Annotators")
if message := st.session_state.pop(MESSAGE, None):
    getattr(st, message[0])(message[1])
if shown := st.session_state.pop(INVITE, None):
    st.success(f"Invite link for **{escape_markdown(shown[0])}**: copy it now, it is shown only once.")
    st.code(shown[1], language=None, wrap_lines=True)

with st.form("invite", clear_on_submit=True, enter_to_submit=False):
    name_col, role_col = st.columns([3, 1])
    name_col.text_input("Name", key=NAME)
    role_col.selectbox("Role", annotators.ROLES, key=ROLE)
    st.form_submit_button("Create and invite", type="primary", on_click=invite)

people = annotators.list_annotators(conn)
accounts = people[people["kind"] == "account"]
st.dataframe(accounts.rename(columns={"name": "Name", "role": "Role", "is_active": "Active",
                                      "sessions": "Open sessions", "created_at": "Added"}),
             column_order=["Name", "Role", "Active", "Open sessions", "Added"], hide_index=True, width="stretch")

st.selectbox("Person", accounts["name"].tolist(), index=None, key=WHO, placeholder="Choose a person")
buttons = st.columns(4)
buttons[0].button("New invite link", on_click=act, args=("link",), width="stretch",
                  help="The old link stops working and their open sessions end; the new link is shown once.")
buttons[1].button("Log out everywhere", on_click=act, args=("logout",), width="stretch")
buttons[2].button("Deactivate", on_click=act, args=("deactivate",), width="stretch",
                  help="They can no longer log in and their open sessions end; their labels stay.")
buttons[3].button("Reactivate", on_click=act, args=("reactivate",), width="stretch")

st.subheader("Progress")
st.dataframe(assignment.annotator_progress(conn).rename(columns=PROGRESS_COLUMNS), hide_index=True, width="stretch")
