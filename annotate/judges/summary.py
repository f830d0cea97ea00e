"""Judge runs and judges in words, for the Judges page and `judge list`.

What went wrong in a run is said plainly: a run whose every request failed is 'failed' with its
first error; a finished run with some failed requests says how many and which error was most
common; a run cut off by a stopped server says so. Error text is cut short (it comes from the
endpoint, see annotate.judges.endpoints.safe_error_text) so that a page never shows pages of it.
"""
from __future__ import annotations

import pandas as pd

from annotate.judges.endpoints import safe_error_text

BACKEND_WORDS = {"causal_lm": "local LLM", "reward_model": "reward model", "openai": "endpoint (LLM)",
                 "external": "imported"}
STATUS_WORDS = {"queued": "queued", "running": "running", "done": "done", "cancelled": "cancelled",
                "failed": "failed", "interrupted": "interrupted (server stopped)"}
SHOWN_ERROR_LIMIT = 400
RESUMABLE = ("cancelled", "failed", "interrupted")


def run_problem(run: dict) -> str | None:
    """One sentence on what went wrong in a run, or None when nothing did."""
    if run["status"] in ("failed", "interrupted") and run.get("error"):
        return safe_error_text(str(run["error"]), limit=SHOWN_ERROR_LIMIT)
    failed = int(run.get("n_errors") or 0)
    if failed and run.get("common_error"):
        common = safe_error_text(str(run["common_error"]), limit=SHOWN_ERROR_LIMIT)
        times = int(run.get("common_error_count") or 0)
        return (f"{failed} of {int(run['n_done'])} requests failed; most common error "
                f"({times} time{'s' if times != 1 else ''}): {common}")
    return None


def runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """A project's runs (annotate.judges.list_runs) as a table in words, newest first."""
    rows = [{"Run": int(r.id), "Judge": r.judge, "Status": STATUS_WORDS.get(r.status, r.status),
             "Answers": f"{int(r.n_done)} of {int(r.n_total)}", "Unparsed": int(r.n_unparsed),
             "Failed requests": int(r.n_errors), "Started": r.created_at, "Finished": r.finished_at,
             "Problem": run_problem(r._asdict()) or ""}
            for r in runs.itertuples(index=False)]
    return pd.DataFrame(rows, columns=["Run", "Judge", "Status", "Answers", "Unparsed", "Failed requests",
                                       "Started", "Finished", "Problem"])


def judges_table(judges: pd.DataFrame) -> pd.DataFrame:
    """A project's judges (annotate.judges.list_judges with a project) as a table in words.

    'Items with a verdict' counts items with at least one parsed answer, as the Analysis page's
    overview does; 'Answers stored' counts every stored answer (both orders, unparsed included), as
    `status` does for judge labels."""
    return pd.DataFrame({
        "Judge": judges["name"], "Kind": judges["backend"].map(lambda b: BACKEND_WORDS.get(b, b)),
        "Items with a verdict": judges["items"], "Answers stored": judges["judgments"],
        "Unparsed or failed": judges["judgments"] - judges["parsed"], "Runs": judges["runs"],
        "Version (config hash)": judges["config_hash"].str[:12]})
