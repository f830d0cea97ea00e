"""The annotation library: projects, imports, labels, judges, router, agreement, export and CLI.

Importable without Streamlit. Each user action is one function taking a DuckDB connection first.
"""
