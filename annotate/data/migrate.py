"""`annotate migrate`: copy one project, several, or all of them from one database to another (a
DuckDB file to PostgreSQL, or back), all or nothing, with every table's rows counted on both sides.

Why a copy and not a backup + restore: a restore needs an empty target, while a team that moves to
PostgreSQL project by project copies into a database that already has other projects and accounts.
So the rows of the chosen projects are read from one snapshot of the source (storage.backup's Arrow
batches: the same portable types as backups) and written in ONE transaction on the target; the
counts per table are compared inside that transaction, so a difference rolls everything back.

Ids: each sequence's ids are shifted past what the target's sequence has handed out (into an empty
target the shift is 0: ids are kept as they are), and the sequences are advanced past the copied
ids, so nothing collides and new rows continue after them. People and judges are matched by name
and by config hash: an annotator who already exists in the target (same name) keeps the target's
row and the copied labels point at it. A project name that the target already has is refused.
The source is only read (a DuckDB file read-only); delete the project there once the copy is checked.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

import storage
from storage import backup as store, pg, pg_errors, transfer
from storage.transfer import TABLES, TableRule
from annotate.errors import AnnotateError


class MigrateError(AnnotateError):
    """The projects cannot be moved: a bad source or target, a project name taken, or counts that differ."""


def shown(target: str | os.PathLike) -> str:
    """A database for messages: a file path, or a URL without its password."""
    return pg.redact(str(target)) if pg.is_postgres_url(str(target)) else str(target)


def migrate_projects(source: str | os.PathLike, target: str | os.PathLike,
                     projects: Sequence[str] = ()) -> list[dict]:
    """Copy `projects` (every project when empty, with the accounts, sessions and caches) from
    `source` to `target` (DuckDB files or postgresql:// URLs; the target is created and migrated
    when new); return one row of counts per table: source rows, copied, matched with an existing
    row of the target (people, judges, cached embeddings), and the rows the target then has for them.

    Raises:
        MigrateError: a project is missing in the source or its name is taken in the target, the
            source has a table this version does not know, or a count differs (nothing was written).
        StoreError: a database cannot be opened.
    """
    source, target = str(source), str(target)
    if source == target:
        raise MigrateError("--from and --to name the same database; give another target")
    try:
        src = _open_source(source)
        try:
            tgt = storage.connect(target)
            try:
                return _copy(src, tgt, list(dict.fromkeys(projects)), source, target)
            finally:
                tgt.close()
        finally:
            src.close()
    except (AnnotateError, storage.StoreError):
        raise
    except duckdb.Error as exc:
        path = source if pg.is_postgres_url(target) else target
        detail = str(exc).strip().split("\n")[0]
        raise MigrateError(f"Nothing was moved: DuckDB reported an error on {path}: {detail}") from None
    except Exception as exc:
        url = target if pg.is_postgres_url(target) else source
        error = pg_errors.store_error(exc, url)
        if error is None:
            raise
        raise MigrateError(f"Nothing was moved: {error}") from None


def _open_source(source: str):
    if pg.is_postgres_url(source):
        return pg_errors.open_postgres(source)
    if not os.path.isfile(source):
        raise MigrateError(f"No database file {source} (--from)")
    return store.open_read_only(source)


def _copy(src, tgt, names: list[str], source: str, target: str) -> list[dict]:
    scur = storage.cursor(src)
    with store.snapshot(scur):
        source_tables = store.table_columns(scur)
        unknown = sorted(set(source_tables) - set(TABLES))
        if unknown:
            raise MigrateError(f"{shown(source)} has tables this version of annotate does not know how to move "
                               f"({', '.join(unknown)}); nothing was moved. Upgrade annotate.")
        by_name = transfer.project_ids(scur)
        everything = not names
        names = names or list(by_name)
        missing = [name for name in names if name not in by_name]
        if missing:
            raise MigrateError(f"No project {', '.join(repr(n) for n in missing)} in {shown(source)} "
                               f"(it has: {', '.join(by_name) or 'no projects'}); nothing was moved")
        project_ids = [by_name[name] for name in names]
        named = _named_rows(scur, source_tables, project_ids, everything)
        sequences = store.sequence_values(scur)

        def run(tcur) -> list[dict]:
            existing = transfer.project_ids(tcur)
            taken = [name for name in names if name in existing]
            if taken:
                raise MigrateError(f"{shown(target)} already has project {', '.join(repr(n) for n in taken)}; nothing "
                                   f"was moved (rename or delete it there, or leave it out with --project)")
            target_tables = store.table_columns(tcur)
            offsets = {seq: value or 0 for seq, value in store.sequence_values(tcur).items()}
            merged = _matches(scur, tcur, named)
            new_projects = [pid + offsets[transfer.P] for pid in project_ids]
            counts = []
            for table in sorted(source_tables, key=lambda t: (t not in transfer.FIRST, t)):
                rule = TABLES[table]
                if rule.scope == "none" or (rule.scope == "global" and not everything):
                    continue
                counts.append(_copy_table(scur, tcur, table, rule, source_tables[table], target_tables.get(table),
                                          project_ids, new_projects, named, merged, offsets))
            for sequence, last_value in sequences.items():
                if last_value is not None and sequence in offsets:
                    store.advance_sequence(tcur, sequence, offsets[sequence] + last_value)
            return counts

        return storage.write(tgt, run)


def _named_rows(scur, tables: dict, project_ids: list[int], everything: bool) -> dict[str, list[int]]:
    """{sequence: ids} of the people and judges the moved rows name (all of them with every project)."""
    named = {}
    for table, sequence in (("annotators", transfer.A), ("judges", transfer.J)):
        if everything:
            ids = transfer.all_ids(scur, table)
        else:
            ids = set()
            for other in tables:
                ids |= transfer.referenced_ids(scur, other, TABLES[other], sequence, project_ids)
        named[sequence] = sorted(ids)
    return named


def _matches(scur, tcur, named: dict[str, list[int]]) -> dict[str, dict[int, int]]:
    """{sequence: {source id: target id}} for the people (by name) and judges (by config hash) the
    target already has."""
    merged = {}
    for table, sequence in (("annotators", transfer.A), ("judges", transfer.J)):
        key = TABLES[table].key[0]
        keys = transfer.keys_of(scur, table, key, named[sequence])
        found = transfer.key_matches(tcur, table, key, list(keys.values()))
        merged[sequence] = {sid: found[value] for sid, value in keys.items() if value in found}
    return merged


def _copy_table(scur, tcur, table: str, rule: TableRule, columns: store.Columns, target: store.Columns | None,
                project_ids: list[int], new_projects: list[int], named: dict, merged: dict, offsets: dict) -> dict:
    """Copy one table's rows of the projects (remapped), and count them on both sides."""
    if target is None:
        raise MigrateError(f"Table {table} does not exist in the target; nothing was moved")
    unknown = [name for name, _ in columns if name not in dict(target)]
    if unknown:
        raise MigrateError(f"Columns {table}.{', '.join(unknown)} do not exist in the target (made by an older "
                           f"version?); nothing was moved")
    sequence = rule.ids.get("id")
    where = transfer.scope_where(table, rule)
    params = None if not where else [named[sequence] if rule.scope in ("annotator", "judge") else project_ids]
    skip = transfer.existing_keys(tcur, table, rule.key) if rule.scope == "global" and rule.key else set()
    before = store.count_rows(tcur, table) if rule.scope == "global" else 0
    source_rows = copied = 0
    for batch in store.read_batches(scur, table, columns, where, params):
        source_rows += batch.num_rows
        batch = _remap(_drop_matched(batch, rule, merged, skip), rule, merged, offsets)
        store.insert_batch(tcur, table, batch, target)
        copied += batch.num_rows
    if rule.scope == "global":
        in_target = store.count_rows(tcur, table) - before
        expected = copied
    else:
        ids = new_projects
        if rule.scope in ("annotator", "judge"):
            mapping, offset = merged[sequence], offsets.get(sequence, 0)
            ids = [mapping.get(i, i + offset) for i in named[sequence]]
        in_target = store.count_rows(tcur, table, where, [ids]) if where else store.count_rows(tcur, table)
        expected = source_rows
    if in_target != expected:
        raise MigrateError(f"Table {table}: {expected} rows to move but {in_target} in the target after the copy; "
                           f"nothing was moved")
    return {"table": table, "source": source_rows, "copied": copied, "matched": source_rows - copied,
            "target": in_target}


def _drop_matched(batch: pa.RecordBatch, rule: TableRule, merged: dict, skip: set) -> pa.RecordBatch:
    """`batch` without the rows the target already has (a person or judge matched by key, a cached row)."""
    if rule.scope in ("annotator", "judge"):
        mapping = merged[rule.ids["id"]]
        if mapping:
            keep = pc.invert(pc.is_in(batch.column(batch.schema.get_field_index("id")),
                                      value_set=pa.array(list(mapping), type=pa.int64())))
            return batch.filter(keep)
    if skip:
        keys = zip(*(batch.column(batch.schema.get_field_index(c)).to_pylist() for c in rule.key))
        return batch.filter(pa.array([tuple(key) not in skip for key in keys], type=pa.bool_()))
    return batch


def _remap(batch: pa.RecordBatch, rule: TableRule, merged: dict, offsets: dict) -> pa.RecordBatch:
    """`batch` with every id column moved to the target's ids (matched rows' ids, else shifted)."""
    arrays = []
    for field in batch.schema:
        array = batch.column(batch.schema.get_field_index(field.name))
        sequence = rule.ids.get(field.name)
        if sequence is not None:
            mapping, offset = merged.get(sequence, {}), offsets.get(sequence, 0)
            array = pa.array([None if v is None else mapping.get(v, v + offset) for v in array.to_pylist()],
                             type=field.type)
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)


def format_counts(counts: list[dict]) -> str:
    """The per-table counts as an aligned text table."""
    header = ["table", "in source", "copied", "matched existing", "in target"]
    rows = [[c["table"], str(c["source"]), str(c["copied"]), str(c["matched"]), str(c["target"])] for c in counts]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths)))
             for r in [header, *rows]]
    return "\n".join(lines)
