import streamlit as st

from pages import session

st.title("Annotate")
st.write(f"Logged in as **{st.session_state[session.USER]['name']}**.")
