"""Read JSONL, JSON, CSV and Parquet files as a stream of records tagged with their place.

Records come one at a time (`iter_records`), so that an import of any size holds only one chunk
in memory. What is refused, each with a one-line error naming the file and line:

- bytes that are not UTF-8, a line that is not JSON, a record that is not an object;
- a lone surrogate (`"\\ud800"`), which no UTF-8 file or database can hold;
- JSON nested deeper than Python can parse (e.g. 100K levels);
- a NUL character (U+0000) in any value or column name, which PostgreSQL cannot store (see
  annotate/text_checks.py: refused on both backends, so that a project imports the same on each);
- a CSV quote that is never closed, a CSV header with a repeated or empty column name.

JSON lines are split on `\\n` only: U+2028, U+0085 and other Unicode line separators inside a
string are text, as JSON says (the app's own JSONL exports contain them).

JSON `NaN`, `Infinity` and `-Infinity` are not JSON; Python writes them anyway. They are read as
null (a missing value) and counted in `ReadStats.non_finite`, which the import report shows. A CSV
cell is text: an empty cell is the empty string (a valid, empty response); only a column that is
absent is missing. Parquet values that JSON cannot hold are converted by `json_safe`.
"""
from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pyarrow.parquet as pq

from annotate.errors import ImportDataError
from annotate.text_checks import NUL_PROBLEM, nul_field

FORMATS = ("jsonl", "json", "csv", "parquet")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


@dataclass
class Record:
    """One input record and where it came from, for error messages."""
    place: str
    data: dict

    def error(self, field_name: str, problem: str) -> ImportDataError:
        return ImportDataError(f"{self.place}, field '{field_name}': {problem}")


@dataclass
class ReadStats:
    """What reading a file noticed without refusing it: the columns seen (in first-seen order)
    and how many JSON NaN/Infinity values were read as null."""
    columns: dict[str, None] = field(default_factory=dict)
    non_finite: int = 0
    records: int = 0


def file_format(path: Path, fmt: str | None = None) -> str:
    """The format of `path`: `fmt` if given, else its extension; refuse an unknown one."""
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ImportDataError(f"{path.name}: unknown format '{fmt}' (use one of {', '.join(FORMATS)})")
    return fmt


def iter_records(path: str | Path, fmt: str | None = None, stats: ReadStats | None = None) -> Iterator[Record]:
    """Yield the records of a JSONL, JSON (array), CSV or Parquet file, each tagged with its place.

    Raises:
        ImportDataError: missing or empty file, or one of the problems in the module docstring.
    """
    path = Path(path)
    fmt = file_format(path, fmt)
    if not path.is_file():
        raise ImportDataError(f"{path}: no such file")
    stats = stats if stats is not None else ReadStats()
    reader = {"jsonl": _jsonl, "json": _json, "csv": _csv, "parquet": _parquet}[fmt]
    columns = stats.columns
    for record in reader(path, stats):
        stats.records += 1
        if len(record.data) != len(columns) or not columns.keys() >= record.data.keys():
            columns.update(dict.fromkeys(record.data))
        yield record
    if not stats.records:
        raise ImportDataError(f"{path.name}: file is empty (no records)")


def read_records(path: str | Path, fmt: str | None = None) -> list[Record]:
    """All records of a file as a list (for small files and adapters; see `iter_records`)."""
    return list(iter_records(path, fmt))


def loads(text: str | bytes, place: str, stats: ReadStats) -> Any:
    """Parse one JSON document; NaN/Infinity become None (counted), errors name `place`."""
    try:
        return json.loads(text, parse_constant=_counter(stats))
    except json.JSONDecodeError as exc:
        line = f" line {exc.lineno}" if "line" not in place else ""
        raise ImportDataError(f"{place}{line}: invalid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise ImportDataError(f"{place}: JSON nested too deeply to read") from None


def _check_surrogates(raw: bytes, value: Any, place: str) -> None:
    """Refuse a lone surrogate escape (cheap test on the raw bytes first)."""
    match = _SURROGATE_ESCAPE.search(raw) if b"\\u" in raw else None
    if match is None:
        return
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        if " line " not in place:  # a whole JSON file: the line of the first such escape
            line = raw[:match.start()].count(b"\n") + 1
            place = f"{place} line {line}"
        raise ImportDataError(f"{place}: text contains a lone surrogate escape (\\ud800-\\udfff without "
                              f"its pair); it is not valid Unicode") from None
    except RecursionError:
        raise ImportDataError(f"{place}: JSON nested too deeply to read") from None


def _utf8(raw: bytes, name: str, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImportDataError(f"{name} line {line}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at "
                              f"offset {exc.start} of the line); save the file as UTF-8") from None


def _jsonl(path: Path, stats: ReadStats) -> Iterator[Record]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):  # binary files split on b"\n" only
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            place = f"{path.name} line {number}"
            text = _utf8(raw, path.name, number)
            try:
                data = json.loads(text, parse_constant=_counter(stats))
            except json.JSONDecodeError as exc:
                raise ImportDataError(f"{place}: invalid JSON ({exc.msg} at column {exc.colno})") from None
            except RecursionError:
                raise ImportDataError(f"{place}: JSON nested too deeply to read") from None
            if not isinstance(data, dict):
                raise ImportDataError(f"{place}: expected a JSON object, got {type_name(data)}")
            _check_surrogates(raw, data, place)
            record = Record(place, data)
            if b"\\u0000" in raw:  # in valid JSON a NUL can only be this escape
                check_nul(record)
            yield record


def _counter(stats: ReadStats):
    """A json parse_constant hook: NaN/Infinity read as None and counted."""
    def non_finite(_: str) -> None:
        stats.non_finite += 1
        return None
    return non_finite


def _json(path: Path, stats: ReadStats) -> Iterator[Record]:
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ImportDataError(f"{path.name} line {line}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at "
                              f"offset {exc.start}); save the file as UTF-8") from None
    if not text.strip():
        return
    data = loads(text, path.name, stats)
    _check_surrogates(raw, data, path.name)
    if not isinstance(data, list):
        raise ImportDataError(f"{path.name}: expected a JSON array of objects, got {type_name(data)}")
    has_nul_escape = b"\\u0000" in raw
    for number, row in enumerate(data, start=1):
        if not isinstance(row, dict):
            raise ImportDataError(f"{path.name} record {number}: expected a JSON object, got {type_name(row)}")
        record = Record(f"{path.name} record {number}", row)
        if has_nul_escape:
            check_nul(record)
        yield record


def _csv(path: Path, stats: ReadStats) -> Iterator[Record]:
    csv.field_size_limit(max(csv.field_size_limit(), path.stat().st_size + 1))  # a cell may be 5 MB
    with path.open("rb") as binary:
        text = io.TextIOWrapper(_Utf8Lines(binary, path.name), encoding="utf-8", newline="")
        reader = csv.reader(text, strict=True)
        start = 1
        try:
            header = next(reader, None)
            if header is None:
                return
            if header and header[0].startswith("\ufeff"):
                header[0] = header[0][1:]
            check_header(path.name, header)
            check_nul(Record(f"{path.name} line 1", dict.fromkeys(header)))
            start = reader.line_num + 1
            for row in reader:
                place = f"{path.name} line {start}"
                if row and len(row) > len(header):
                    raise ImportDataError(f"{place}: {len(row)} cells but the header has {len(header)} columns")
                if not any(row):
                    start = reader.line_num + 1
                    continue
                record = Record(place, dict(zip(header, row)))
                check_nul(record)
                yield record
                start = reader.line_num + 1
        except csv.Error as exc:
            problem = "a quoted cell is never closed" if "unexpected end of data" in str(exc) else str(exc)
            raise ImportDataError(f"{path.name} line {start}: not valid CSV ({problem})") from None


def check_nul(record: Record) -> None:
    """Refuse a record with a NUL character in a value or a column name, naming the field."""
    field_name = nul_field(record.data)
    if field_name is not None:
        raise record.error(field_name, NUL_PROBLEM)


def check_header(name: str, header: list[str]) -> None:
    """Refuse a CSV header with repeated or empty column names (one column would be lost)."""
    empty = [i + 1 for i, column in enumerate(header) if not column.strip()]
    repeated = sorted({c for c in header if c.strip() and header.count(c) > 1})
    if repeated:
        raise ImportDataError(f"{name} line 1: the header repeats the column name(s) "
                              f"{', '.join(repr(c) for c in repeated)}; give every column its own name")
    if empty:
        raise ImportDataError(f"{name} line 1: the header has no name for column(s) "
                              f"{', '.join(map(str, empty))}; give every column a name")


class _Utf8Lines(io.RawIOBase):
    """A binary stream that checks UTF-8 line by line, so that an invalid byte names its line."""

    def __init__(self, handle, name: str) -> None:
        self._lines = enumerate(handle, start=1)
        self._name = name
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._buffer:
            number, line = next(self._lines, (0, None))
            if line is None:
                return 0
            _utf8(line, self._name, number)
            self._buffer = line
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def _parquet(path: Path, stats: ReadStats) -> Iterator[Record]:
    try:
        handle = pq.ParquetFile(path)
        batches = handle.iter_batches(batch_size=20_000)
        row = 0
        for batch in batches:
            for data in batch.to_pylist():
                row += 1
                record = Record(f"{path.name} row {row}", data)
                check_nul(record)
                yield record
    except ImportDataError:
        raise
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise ImportDataError(f"{path.name}: not a readable Parquet file ({exc})") from None


def json_safe(value: Any) -> Any:
    """A JSON-safe copy of a metadata value: datetimes and dates as ISO 8601 text, decimals as
    text (no precision lost), bytes as base64 text, NaN/Infinity as None, arrays as lists."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return json_safe(value.tolist())
    return str(value)


def type_name(value: Any) -> str:
    """The JSON name of a value's type, for error messages."""
    return {bool: "a boolean", int: "a number", float: "a number", str: "text", list: "a list",
            dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)
