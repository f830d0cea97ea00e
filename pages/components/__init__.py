"""Custom Streamlit components of the app (static assets, no npm build)."""
