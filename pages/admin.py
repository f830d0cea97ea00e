"""Admin: invite annotators (the link is shown once), deactivate them, follow their progress."""
import streamlit as st

from annotate.labeling import annotators, assignment
from annotate.errors import AnnotateError
from pages import session

INVITE = "admin_invite"

session.require_role("admin")
conn = session.get_conn()

st.header("Annotators")
with st.form("invite", clear_on_submit=True):
    name_col, role_col = st.columns([3, 1])
    name = name_col.text_input("Name")
    role = role_col.selectbox("Role", annotators.ROLES)
    if st.form_submit_button("Create and invite", type="primary"):
        try:
            annotator, token = annotators.add_annotator(conn, name, role)
            st.session_state[INVITE] = (annotator["name"], annotators.invite_link(token))
        except AnnotateError as exc:
            st.error(str(exc))
if invite := st.session_state.pop(INVITE, None):
    st.success(f"Invite link for **{invite[0]}** - copy it now, it is shown only once:")
    st.code(invite[1], language=None)

people = annotators.list_annotators(conn)
st.dataframe(people, hide_index=True, width="stretch")
active = people.loc[people["is_active"], "name"].tolist()
inactive = people.loc[~people["is_active"], "name"].tolist()
left, right = st.columns(2)
with left.form("deactivate"):
    who = st.selectbox("Deactivate", active, index=None, placeholder="Choose an annotator")
    if st.form_submit_button("Deactivate") and who:
        annotators.set_active(conn, who, False)
        st.rerun()
with right.form("reactivate"):
    who = st.selectbox("Reactivate", inactive, index=None, placeholder="Choose an annotator")
    if st.form_submit_button("Reactivate") and who:
        annotators.set_active(conn, who, True)
        st.rerun()

st.subheader("Progress")
st.dataframe(assignment.annotator_progress(conn), hide_index=True, width="stretch")
