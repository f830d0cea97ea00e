"""The dataset card (README.md) of an export: what is in it, where the labels came from, how
much the raters agreed, under which license, and which filters made it.

The YAML header follows the Hugging Face dataset card metadata (license, pretty_name,
size_categories, tags); the body is plain markdown so it reads the same on disk and on the Hub.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from annotate.analysis.reference import describe_policy
from annotate.data.export_types import ExportResult

DESCRIPTIONS = {
    "dpo": "Preference pairs (prompt, chosen, rejected) for DPO and reward models.",
    "helpsteer2": "Binarized preference pairs with a HelpSteer2-Preference strength (-3..3).",
    "rubric": "One row per response with one column per rubric criterion (HelpSteer2 style).",
    "events": "Every human label event (labels, skips, flags, superseded edits), for audit.",
    "judgments": "Every AI judge judgment (parsed or not, with raw output), for audit.",
}
SIZE_CATEGORIES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                   (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")]


def size_category(n_rows: int) -> str:
    """The Hub's size_categories bucket for a row count."""
    return next((name for limit, name in SIZE_CATEGORIES if n_rows < limit), "n>10M")


def render_card(result: "ExportResult", fmt: str) -> str:
    """Markdown dataset card for an export (the text of README.md)."""
    project = result.project
    license_id = project.config.license if project.config.license != "unspecified" else "other"
    header = ["---", f"license: {license_id}", f"pretty_name: {json.dumps(project.name)}",
              "size_categories:", f"- {size_category(result.n_rows)}", "tags:", "- human-feedback",
              "- preference" if project.task_type == "pairwise" else "- rubric", "---", ""]
    body = [f"# {project.name}", "", DESCRIPTIONS[result.kind], "",
            f"Exported {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC as `{fmt}` from a "
            f"{project.task_type} annotation project.", "",
            "## License", "",
            f"{project.config.license}" + (" (no license was set in the project config; set `license`)"
                                           if project.config.license == "unspecified" else ""), "",
            "## Counts", "", *_counts(result), "",
            *_provenance(result), *_participants(result), "## Filters", "", *_filters(result), ""]
    return "\n".join(header + body)


def _counts(result: "ExportResult") -> list[str]:
    labels = {"items": "items in the project", "final_labels": "items and aspects with a final label",
              "aspect": "after the aspect filter", "source": "after the source filter",
              "min_agreement": "after the minimum agreement", "exclude_ties": "after excluding ties",
              "exclude_both_bad": "after excluding both-bad", "rows": "rows in this export"}
    lines = ["| step | rows |", "|---|---|"]
    lines += [f"| {labels.get(key, key)} | {value} |" for key, value in result.counts.items()]
    return lines


def _provenance(result: "ExportResult") -> list[str]:
    summary = result.summary
    if not summary:
        return ["## Annotators", "", f"Distinct human annotators: {result.annotators}", ""]
    method = result.method or ("majority" if result.project.task_type == "pairwise" else "mean")
    fallback = f" or the fallback judge '{result.judge}'" if result.judge else ""
    lines = ["## Label sources", "", "| source | rows |", "|---|---|",
             *[f"| {source} | {n} |" for source, n in summary["sources"].items()], "",
             f"Human labels are aggregated with `{method}` (annotate/data/aggregate.py; "
             f"{_split_statement(result, method)}). 'ai' rows carry the verdict of the "
             f"routed judge{fallback}; 'both' rows carry the human label with the judge's verdict beside it; "
             f"'adjudicated' rows carry a researcher's final label from the review queue (it replaces the "
             f"aggregate of the human labels, whose count and agreement stay in the row); 'gold' rows carry the "
             f"dataset's reference answer for items no human labeled (it never joins the human votes).",
             "", f"Judges: {', '.join(summary['judges']) or 'none'}", "",
             f"Distinct human annotators: {result.annotators}", "",
             "## Agreement", "",
             "Per row, the share of agreeing rater pairs (Fleiss 1971, per-subject term); undefined "
             "for fewer than two raters.", ""]
    if summary["with_agreement"]:
        lines += [f"- rows with an agreement: {summary['with_agreement']}",
                  f"- mean agreement: {summary['mean_agreement']:.3f}",
                  f"- median agreement: {summary['median_agreement']:.3f}",
                  f"- mean number of human labels per row: {summary['mean_human_labels']:.2f}", ""]
    else:
        lines += ["No row has two or more human labels.", ""]
    return lines


def _participants(result: "ExportResult") -> list[str]:
    """Crowd studies: which participants' labels were left out, and whether their platform ids are in
    the export (annotate.study.exclusion); nothing for a project without participants."""
    exclusion = result.exclusion or {}
    if not exclusion.get("participants") and not exclusion.get("check_answers"):
        return []
    ids = ("Participants' platform ids are in the `participant_ids` column (`participant_id` in the events "
           "table), asked for with --with-participant-ids."
           if result.filters.with_participant_ids else
           "Participants appear under opaque names only; their platform ids are not in this export.")
    return ["## Study participants", "", f"Participants in the study: {exclusion['participants']}. "
            f"{exclusion['statement']}", "", ids, ""]


def _split_statement(result: "ExportResult", method: str) -> str:
    """The project's split policy in words (pairwise; annotate.analysis.reference), or how rubric
    scores are combined."""
    if result.project.task_type != "pairwise":
        return f"the {method} of the human scores of each response and criterion"
    return describe_policy(result.project.config.split_policy)


def _filters(result: "ExportResult") -> list[str]:
    active = result.filters.active()
    if result.judge:
        active["fallback_judge"] = result.judge
    if not active:
        return ["None: every final label is included."]
    return [f"- `{key}`: {json.dumps(value, ensure_ascii=False, default=str)}" for key, value in active.items()]
