"""Run a judge over a project's items and store its judgments beside the human labels.

Pairwise judges see every item in both orders (A/B, then B/A). A B/A answer is un-swapped before
it is stored, so every stored judgment is canonical (verdict about response 0 = A, probs
[P(A), P(tie), P(B)]) and `presented_order` records what the judge saw; annotate.analysis.verdicts
.combined_verdicts averages the two and flags items whose verdict flips with the order. Rubric
judges grade each response on each criterion (aspect = criterion, response_idx = response).

Runs are resumable: a unit (item + order, or item + response + criterion) that the same judge
(config hash, which includes the template hash) already answered is skipped, so a run that was
cancelled, limited or killed picks up where it stopped. Progress, counts, errors and the status
('queued', 'running', 'done', 'cancelled', 'failed', 'interrupted') are kept in judge_runs; each
batch's judgments and the run's counters are written in one transaction.

A run whose every request failed (the endpoint is down, the key is refused) is 'failed' with its
first error, not 'done'; a run with some failed requests keeps the most common error and its count,
so the Judges page can say what went wrong. A run still 'queued' or 'running' when the process that
holds the database starts again was cut off by a stop; mark_interrupted_runs marks it 'interrupted',
and resume_run starts it again (units already answered are skipped).

Several app servers may share one PostgreSQL database: a run holds the lease of its job (this judge
on this project, annotate.jobs) while it runs, so the same judge never runs twice at once on one
project; a second server asked to run it gets "... is already running on HOST". A run whose server
died keeps its 'running' status only until its lease expires; then mark_interrupted_runs (at start,
and whenever the runs are listed) marks it 'interrupted'.
"""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import pandas as pd

import storage
from storage import items as item_store, judgments as store
from storage.db import Connection, Cursor
from annotate.errors import AnnotateError, ConfigError, NotFoundError
from annotate.extras import require_models
from annotate.jobs import JobLease, judge_job_key
from annotate.judges.base import Judge, PairwiseRequest, RubricRequest, Verdict
from annotate.judges.config import JudgeConfig
from annotate.judges.endpoints import get_endpoint
from annotate.judges.templates import Template
from annotate.projects import Project, get_project
from annotate.text_checks import replace_nul

ORDERS = ("AB", "BA")
INTERRUPTED = "The server stopped while this run was going; resume it to judge the rest"
LEASE_LOST = ("Another server took this run's job over (this server stalled past its lease); "
              "what was stored so far is kept")
CANCEL_POLL_S = 0.5
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Unit:
    """One question for the judge: a pairwise order of an item, or a (response, criterion)."""
    item_id: int
    request: PairwiseRequest | RubricRequest
    presented_order: str | None = None
    response_idx: int | None = None
    aspect: str = "overall"


@dataclass(frozen=True)
class RunReport:
    run_id: int
    judge_id: int
    status: str
    n_total: int
    n_done: int
    n_unparsed: int
    n_errors: int

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def make_judge(config: JudgeConfig, template: Template | None) -> Judge:
    """Build the backend for `config` (transformers is imported only for the local backends).

    Raises:
        ConfigError: an 'external' judge (its judgments come from files and it cannot run), or a
            model that cannot be loaded.
        MissingExtraError: a local-model judge on an install without torch/transformers.
    """
    if config.backend in ("reward_model", "causal_lm"):
        require_models("Local-model judges")  # a one-line message instead of ModuleNotFoundError: torch
    if config.backend == "reward_model":
        from annotate.judges.reward_model import RewardModelJudge
        return RewardModelJudge(config, template)
    if config.backend == "causal_lm":
        from annotate.judges.causal_lm import CausalLMJudge
        return CausalLMJudge(config, template)
    if config.backend == "openai":
        from annotate.judges.openai_http import OpenAIJudge
        return OpenAIJudge(config, template)
    raise ConfigError(f"Judge '{config.name}' is external: its judgments are imported from files, it cannot run")


def register_judge(conn: Connection, config: JudgeConfig, task_type: str) -> tuple[int, Template | None]:
    """Store the judge (identified by config + template hash) and return (judge id, template).

    Raises:
        ConfigError: the template is invalid or for the other task type, or a reward model for a
            rubric project.
    """
    if config.backend == "reward_model" and task_type == "rubric":
        raise ConfigError(f"Judge '{config.name}': a reward model cannot grade rubric projects; use a causal_lm "
                          f"or openai judge")
    if config.backend == "openai":
        get_endpoint(config.endpoint)  # refuse a name the operator does not list, before anything is stored
    template = config.load_template(task_type)
    judge_id = storage.write(conn, lambda cur: store.get_or_create_judge(
        cur, config.name, config.backend, config.model_dump_json(), config.content_hash(template),
        template.hash if template else None))
    return judge_id, template


def judge_config(conn: Connection, judge_id: int) -> JudgeConfig:
    """The stored config of a registered judge.

    Raises:
        NotFoundError: no judge with this id.
    """
    row = store.get_judge(storage.cursor(conn), judge_id)
    if row is None:
        raise NotFoundError(f"No judge with id {judge_id}")
    return JudgeConfig.from_stored(row["config"])


def pending_units(conn: Connection, project: Project, judge_id: int, limit: int | None = None,
                  retry_unparsed: bool = False) -> list[Unit]:
    """The units the judge has not answered yet, in item order, for at most `limit` items.

    With retry_unparsed, units whose judgments all failed to parse are asked again (the failed
    rows stay; combined verdicts use only parsed ones).
    """
    cur = storage.cursor(conn)
    items = item_store.items_frame(cur, project.id)
    responses = item_store.responses_frame(cur, project.id)
    texts = {(r.item_id, r.idx): r.text for r in responses.itertuples()}
    done = store.judged_units(cur, judge_id, project.id, include_unparsed=not retry_unparsed)
    done_keys = {(int(r.item_id), _none(r.presented_order), r.aspect, _none(r.response_idx)) for r in done.itertuples()}
    units: list[Unit] = []
    n_items = 0
    for item in items.itertuples():
        new = [u for u in _item_units(project, item, texts)
               if (u.item_id, u.presented_order, u.aspect, u.response_idx) not in done_keys]
        if new and limit is not None and n_items >= limit:
            break
        n_items += bool(new)
        units.extend(new)
    return units


def _item_units(project: Project, item, texts: dict) -> list[Unit]:
    item_id = int(item.item_id)
    context, reference = _none(item.context), _none(item.reference)
    if project.task_type == "pairwise":
        a, b = texts[(item_id, 0)], texts[(item_id, 1)]
        return [Unit(item_id, PairwiseRequest(item.prompt, first, second, context, reference), order)
                for order, (first, second) in zip(ORDERS, ((a, b), (b, a)))]
    n_responses = sum(1 for key in texts if key[0] == item_id)
    return [Unit(item_id, RubricRequest(item.prompt, texts[(item_id, idx)], criterion, context, reference),
                 response_idx=idx, aspect=criterion.name)
            for idx in range(n_responses) for criterion in project.config.criteria]


def _none(value):
    """None for SQL NULL as pandas shows it (None, NaN, NA); ints stay ints."""
    if value is None or pd.isna(value):
        return None
    return int(value) if isinstance(value, float) else value


def create_run(conn: Connection, project_name: str, config: JudgeConfig, *, batch_size: int = 8,
               limit: int | None = None, retry_unparsed: bool = False) -> int:
    """Register the judge and create a queued run for it; return the run id (validates first)."""
    if batch_size < 1 or (limit is not None and limit < 0):
        raise ConfigError(f"batch size must be >= 1 and limit >= 0 (got {batch_size}, {limit})")
    project = get_project(conn, project_name)
    judge_id, _ = register_judge(conn, config, project.task_type)
    options = json.dumps({"project": project_name, "batch_size": batch_size, "limit": limit,
                          "retry_unparsed": retry_unparsed})
    return storage.write(conn, lambda cur: store.insert_run(cur, judge_id, project.id, options))


def run_judge(conn: Connection, project_name: str, config: JudgeConfig, *, batch_size: int = 8,
              limit: int | None = None, retry_unparsed: bool = False, progress: Progress | None = None,
              cancel: threading.Event | None = None, judge: Judge | None = None) -> RunReport:
    """Run a judge over a project's pending units and store the judgments (see the module docstring).

    Args:
        batch_size: units given to the judge at once (one forward pass, or one set of concurrent requests).
        limit: judge at most this many items (those with pending units, in item order).
        progress: called as progress(n_done, n_total) after each batch.
        cancel: set it (or storage's cancel_requested, see cancel_run) to stop after the current batch.
        judge: an already built backend for `config` (e.g. a loaded model reused across runs).

    Raises:
        ConfigError, NotFoundError: before anything runs; errors while running mark the run
            'failed' with the message and propagate.
    """
    with claim_judge_job(conn, project_name, config) as lease:
        run_id = create_run(conn, project_name, config, batch_size=batch_size, limit=limit,
                            retry_unparsed=retry_unparsed)
        return execute_run(conn, run_id, config, progress=progress, cancel=cancel, judge=judge, lease=lease)


def claim_judge_job(conn: Connection, project_name: str, config: JudgeConfig) -> JobLease:
    """Take the lease of running this judge on this project (see annotate.jobs).

    Raises:
        JobBusyError: the judge already runs on this project, here or on another server.
    """
    project = get_project(conn, project_name)
    judge_id, _ = register_judge(conn, config, project.task_type)
    return JobLease(conn, judge_job_key(project.id, judge_id),
                    f"Judge '{config.name}' on project '{project_name}'").acquire()


def execute_run(conn: Connection, run_id: int, config: JudgeConfig, *,
                progress: Progress | None = None, cancel: threading.Event | None = None,
                judge: Judge | None = None, lease: JobLease | None = None) -> RunReport:
    """Carry out a created run (see run_judge); the run row records everything as it goes.

    Args:
        lease: the run's job lease when the caller took it (claim_judge_job); without one the run
            takes it here and releases it at the end (a busy job makes the run 'failed', saying where
            it runs).
    """
    cur = storage.cursor(conn)
    run = store.get_run(cur, run_id)
    if run is None:
        raise NotFoundError(f"No judge run with id {run_id}")
    options = json.loads(run["options"])
    own_lease = None
    try:
        if lease is None:
            own_lease = lease = JobLease(conn, judge_job_key(run["project_id"], run["judge_id"]),
                                         f"Judge '{run['judge']}' on project '{options['project']}'").acquire()
        return _execute(conn, run, options, config, progress, cancel, judge, lease)
    except BaseException as exc:
        message = str(exc) if isinstance(exc, (AnnotateError, storage.StoreError)) else f"{type(exc).__name__}: {exc}"
        storage.write(conn, lambda c: store.update_run(c, run_id, status="failed", error=message, is_finished=True))
        raise
    finally:
        if own_lease is not None:
            own_lease.release()


def _execute(conn: Connection, run: dict, options: dict, config: JudgeConfig, progress: Progress | None,
             cancel: threading.Event | None, judge: Judge | None, lease: JobLease) -> RunReport:
    """The body of execute_run, under the run's job lease."""
    run_id = int(run["id"])
    counts = {"n_done": 0, "n_unparsed": 0, "n_errors": 0}
    errors: Counter[str] = Counter()
    project = get_project(conn, options["project"])
    _, template = register_judge(conn, config, project.task_type)
    units = pending_units(conn, project, int(run["judge_id"]), options["limit"], options["retry_unparsed"])
    storage.write(conn, lambda c: store.update_run(c, run_id, status="running", n_total=len(units)))
    if progress:
        progress(0, len(units))
    owned = judge is None and bool(units)
    judge = make_judge(config, template) if owned else judge
    try:
        status = _run_batches(conn, run, units, judge, options["batch_size"], counts, errors, progress,
                              cancel, lease)
    finally:
        if owned:
            judge.close()
    status, error, common = _outcome(status, counts, errors)
    if status == "interrupted":
        error = LEASE_LOST
    storage.write(conn, lambda c: store.update_run(c, run_id, status=status, error=error, common_error=common[0],
                                                   common_error_count=common[1], is_finished=True))
    return RunReport(run_id, int(run["judge_id"]), status, len(units), **counts)


def _outcome(status: str, counts: dict, errors: Counter) -> tuple[str, str | None, tuple[str | None, int]]:
    """(status, error, (most common error, its count)) of a finished run: 'failed' with the first
    error when every request failed."""
    if not errors:
        return status, None, (None, 0)
    first = next(iter(errors))  # a Counter keeps first-seen order
    common = errors.most_common(1)[0]
    if counts["n_errors"] == counts["n_done"]:
        return "failed", f"Every request failed ({counts['n_errors']}). First error: {first}", common
    return status, None, common


def _run_batches(conn: Connection, run: dict, units: list[Unit], judge: Judge | None,
                 batch_size: int, counts: dict, errors: Counter, progress: Progress | None,
                 cancel: threading.Event | None, lease: JobLease) -> str:
    """Judge the units batch by batch; return the final status ('done', 'cancelled', or
    'interrupted' when another server took the job's lease over). Failed requests' messages are
    counted in `errors`, in the order first seen.

    Each batch is written on a writer thread while the judge works on the next one (torch and
    DuckDB release the GIL), with at most one write in flight; a failed write stops the run.
    """
    run_id = int(run["id"])
    stop = _StopCheck(conn, run_id, cancel)
    status, in_flight = "done", None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"judge-run-{run_id}-writer") as writer:
        for start in range(0, len(units), batch_size):
            if lease.is_lost:
                status = "interrupted"
                break
            if stop():
                status = "cancelled"
                break
            batch = units[start:start + batch_size]
            verdicts = _ask(judge, batch)
            frame = pd.DataFrame([_row(run, unit, verdict) for unit, verdict in zip(batch, verdicts)])
            counts["n_done"] += len(batch)
            counts["n_unparsed"] += sum(not v.is_parsed for v in verdicts)
            counts["n_errors"] += sum(v.is_error for v in verdicts)
            errors.update(_error_text(v) for v in verdicts if v.is_error)
            if in_flight is not None:
                in_flight.result()
            in_flight = writer.submit(_write_batch, conn, run_id, frame, dict(counts))
            if progress:
                progress(counts["n_done"], len(units))
        if in_flight is not None:
            in_flight.result()
    return status


class _StopCheck:
    """Whether a run should stop: its event is set, or a cancel was asked through the store (read
    at most every CANCEL_POLL_S, so a stored cancel is noticed within that plus one batch)."""

    def __init__(self, conn: Connection, run_id: int, cancel: threading.Event | None) -> None:
        self.conn, self.run_id, self.cancel = conn, run_id, cancel
        self.checked_at = float("-inf")

    def __call__(self) -> bool:
        if self.cancel is not None and self.cancel.is_set():
            return True
        if time.monotonic() - self.checked_at < CANCEL_POLL_S:
            return False
        self.checked_at = time.monotonic()
        return store.is_cancel_requested(storage.cursor(self.conn), self.run_id)


def _write_batch(conn: Connection, run_id: int, frame: pd.DataFrame, counts: dict) -> None:
    """Store a batch's judgments and the run's counters in one transaction."""
    def write(cur: Cursor) -> None:
        store.insert_judgments(cur, frame)
        store.update_run(cur, run_id, **counts)
    storage.write(conn, write)


def _error_text(verdict: Verdict) -> str:
    text = replace_nul(verdict.raw_output) or "unknown error"
    return text.removeprefix("error: ")


def _ask(judge: Judge, batch: list[Unit]) -> list[Verdict]:
    requests = [u.request for u in batch]
    if isinstance(requests[0], PairwiseRequest):
        return judge.judge_pairwise(requests)
    return judge.judge_rubric(requests)


def _row(run: dict, unit: Unit, verdict: Verdict) -> dict:
    """A judgment row in canonical terms (a B/A verdict is un-swapped)."""
    if unit.presented_order == "BA":
        verdict = verdict.swapped()
    return {"judge_id": int(run["judge_id"]), "run_id": int(run["id"]), "item_id": unit.item_id,
            "aspect": unit.aspect, "response_idx": unit.response_idx, "presented_order": unit.presented_order,
            "verdict": verdict.verdict, "score": verdict.score, "probs": verdict.probs, "is_parsed": verdict.is_parsed,
            "rationale": replace_nul(verdict.rationale), "raw_output": replace_nul(verdict.raw_output),
            "latency_ms": verdict.latency_ms,
            "prompt_tokens": verdict.prompt_tokens, "completion_tokens": verdict.completion_tokens,
            "cost": verdict.cost, "source": "run"}


def start_background_run(conn: Connection, project_name: str, config: JudgeConfig, *,
                         batch_size: int = 8, limit: int | None = None, retry_unparsed: bool = False) -> int:
    """Create a run and carry it out on a daemon thread; return the run id at once.

    The config is validated, the job's lease taken and the run row created before this returns;
    everything after (loading the model included) is reported in the run's status and error (see
    list_runs).

    Raises:
        JobBusyError: this judge already runs on the project (here or on another server).
    """
    lease = claim_judge_job(conn, project_name, config)
    try:
        run_id = create_run(conn, project_name, config, batch_size=batch_size, limit=limit,
                            retry_unparsed=retry_unparsed)
    except BaseException:
        lease.release()
        raise

    def work() -> None:
        try:
            execute_run(conn, run_id, config, lease=lease)
        except Exception:  # recorded in the run row by execute_run; a thread has no caller to tell
            pass
        finally:
            lease.release()

    threading.Thread(target=work, name=f"judge-run-{run_id}", daemon=True).start()
    return run_id


def mark_interrupted_runs(conn: Connection) -> int:
    """Mark runs left 'queued' or 'running' by a stopped process as 'interrupted'; return how many.

    Call it when a process that runs judges starts (the app, or a CLI command that runs judges).
    A run whose job lease is still live is running on some server (another app server on the same
    PostgreSQL database) and is left alone; a run whose lease expired lost its server.
    """
    return storage.write(conn, lambda cur: store.mark_interrupted(cur, INTERRUPTED))


def resume_run(conn: Connection, run_id: int) -> int:
    """Start a finished run's judge again in the background with the same options; return the new
    run's id. Units the judge already answered are skipped, so this finishes what was left.

    Raises:
        NotFoundError: no such run. ConfigError: the run is still active, or its judge cannot run now.
    """
    run = get_run(conn, run_id)
    if run["status"] in store.ACTIVE_STATUSES:
        raise ConfigError(f"Run {run_id} is still {run['status']}; cancel it before resuming")
    options = json.loads(run["options"])
    return start_background_run(conn, options["project"], judge_config(conn, int(run["judge_id"])),
                                batch_size=options["batch_size"], limit=options["limit"],
                                retry_unparsed=options["retry_unparsed"])


def cancel_run(conn: Connection, run_id: int) -> None:
    """Ask a run to stop after its current batch (what it stored so far stays; rerun to resume)."""
    if store.get_run(storage.cursor(conn), run_id) is None:
        raise NotFoundError(f"No judge run with id {run_id}")
    storage.write(conn, lambda cur: store.request_cancel(cur, run_id))


def list_runs(conn: Connection, project_name: str) -> pd.DataFrame:
    """A project's judge runs, newest first (storage.judgments.RUN_COLUMNS). Runs whose server died
    (their lease expired) are marked 'interrupted' first, so that they can be resumed."""
    project = get_project(conn, project_name)
    cur = storage.cursor(conn)
    if store.has_orphaned_runs(cur, project.id):
        storage.write(conn, lambda c: store.mark_interrupted(c, INTERRUPTED))
    return store.list_runs(cur, project.id)


def get_run(conn: Connection, run_id: int) -> dict:
    """One run (storage.judgments.RUN_COLUMNS). Raises NotFoundError."""
    run = store.get_run(storage.cursor(conn), run_id)
    if run is None:
        raise NotFoundError(f"No judge run with id {run_id}")
    return run


def list_judges(conn: Connection, project_name: str | None = None) -> pd.DataFrame:
    """Judges of a project (with judgments or runs there, imported external judges included:
    id, name, backend, config_hash, template_hash, judgments, parsed, items, runs), or every
    registered judge when no project is given."""
    cur = storage.cursor(conn)
    if project_name is None:
        return store.list_judges(cur)
    return store.project_judges(cur, get_project(conn, project_name).id)
