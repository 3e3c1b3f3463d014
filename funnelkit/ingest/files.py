"""The one reader of event files (CSV, Parquet) into an eager frame.

Used by :meth:`funnelkit.EventLog.from_csv`, :meth:`funnelkit.EventLog.from_parquet`, the
``funnelkit report`` command and every door given a file path. The first installed library
reads the file (pyarrow, then pandas, polars for CSV; pyarrow, polars or pandas for Parquet),
so with pyarrow installed both usually come back as a ``pyarrow.Table``.
pyarrow reads the text columns of a Parquet file as dictionaries (distinct values and codes).

pyarrow parses a CSV file on every core, timestamps included, and keeps text as Arrow
strings, several times faster than pandas, which makes a Python string per cell and leaves
timestamps as text to parse afterwards. Where the two could read a file differently, pandas
reads it, as before: when Arrow refuses it (rows of another length than the header), finds
text that is not UTF-8, duplicate or empty column names, columns without any value, or
numbers beyond 64-bit integers (doubles to Arrow, exact integers to pandas). Times with a
UTC offset stay text, as pandas leaves them: Arrow would convert them to UTC, while funnelkit
reads them as wall-clock times (and refuses mixed offsets).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Literal

from funnelkit.exceptions import DataError, FunnelkitError
from funnelkit.ingest.text_codes import is_text_type

__all__ = [
    "FileFormat",
    "UnreadableFileError",
    "file_format",
    "read_events",
    "release_arrow_memory",
]

FileFormat = Literal["csv", "parquet"]
_KIND = {"csv": "CSV", "parquet": "Parquet"}
_ORDER = {"csv": ("pandas", "polars", "pyarrow"), "parquet": ("pyarrow", "polars", "pandas")}
_SUFFIXES: dict[FileFormat, tuple[str, ...]] = {
    "csv": (".csv", ".csv.gz", ".txt", ".tsv"),
    "parquet": (".parquet", ".pq"),
}
_EVENT_FILE = "an event file has a header and one row per event"


class UnreadableFileError(DataError):
    """An event file that cannot be read: a directory, an empty file or a malformed one.

    ``brief`` says the same in one short line that names the file as given, for the command
    line.
    """

    def __init__(self, message: str, *, brief: str) -> None:
        super().__init__(message)
        self.brief = brief


def file_format(path: str | os.PathLike[str]) -> FileFormat | None:
    """``"csv"`` or ``"parquet"`` from a file name, None when the suffix says neither.

    Examples
    --------
    >>> file_format("events.csv.gz"), file_format("part-0.PARQUET"), file_format("x.json")
    ('csv', 'parquet', None)
    """
    name = os.fspath(path).lower()
    for fmt, suffixes in _SUFFIXES.items():
        if name.endswith(suffixes):
            return fmt
    return None


def read_events(
    path: str | os.PathLike[str],
    *,
    format: FileFormat | None = None,
    delimiter: str | None = None,
) -> Any:
    """Read one CSV or Parquet file into an eager native frame.

    Parameters
    ----------
    path
        The file.
    format
        ``"csv"`` or ``"parquet"``; default from the file name (see :func:`file_format`).
    delimiter
        CSV field separator (default ``,``).

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    UnreadableFileError
        If the path is a directory, the file is empty, or its content is not ``format``.
    """
    path = Path(path)
    if path.is_dir():
        raise UnreadableFileError(
            f"{str(path)!r} is a directory: name one *.csv or *.parquet event file, or open a "
            "folder of Parquet files with funnelkit.aggregate.read_parquet.",
            brief=f"{path} is a directory: name one *.csv or *.parquet event file",
        )
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    fmt = format or file_format(path)
    if fmt is None:
        raise DataError(
            f"Cannot tell the format of {path.name!r}: name the file *.csv or *.parquet, or "
            "use EventLog.from_csv / EventLog.from_parquet."
        )
    kind = _KIND[fmt]
    if path.stat().st_size == 0:
        raise UnreadableFileError(
            f"Could not read {str(path)!r} as {kind}: the file is empty; {_EVENT_FILE}.",
            brief=f"{path} is empty: {_EVENT_FILE}",
        )
    if fmt == "csv" and importlib.util.find_spec("pyarrow") is not None:
        table = _arrow_csv(path, delimiter)
        if table is not None:
            return table
    import narwhals as nw

    reader = nw.read_csv if fmt == "csv" else nw.read_parquet
    backend: Any
    for backend in _ORDER[fmt]:
        if importlib.util.find_spec(backend) is None:
            continue
        options: dict[str, Any] = {}
        if fmt == "csv" and delimiter is not None:
            options["separator"] = delimiter
        try:
            if fmt == "parquet" and backend == "pyarrow":
                options["read_dictionary"] = _text_columns(path)
                # Pre-buffering copies whole column chunks into memory first, which pays on
                # object stores; on a local file it is a needless copy. Without it, a first
                # read of 10 million events took 0.6 s instead of 1.4 s, and peaked 115 MiB
                # lower.
                options["pre_buffer"] = False
            with warnings.catch_warnings():
                if fmt == "csv" and backend == "pandas":
                    from pandas.errors import ParserWarning

                    # pandas would take the first fields of rows longer than the header as an
                    # index and shift the columns; refuse such rows instead.
                    options["index_col"] = False
                    warnings.simplefilter("error", ParserWarning)
                native = reader(str(path), backend=backend, **options).to_native()
        except Exception as exc:  # whatever the reader raises is about the file
            raise _unreadable(path, kind, exc) from exc
        if backend == "pyarrow":
            release_arrow_memory()
        return native
    raise FunnelkitError(
        "Reading files needs pandas, polars or pyarrow: pip install 'funnelkit[pandas]'."
    )


def _arrow_csv(path: Path, delimiter: str | None) -> Any:
    """A CSV file read by pyarrow, or None where pandas should read it (module docstring)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as csv

    parse = csv.ParseOptions(delimiter=delimiter or ",")
    # Empty cells and "NA"-like text are missing in text columns too, as in pandas.
    convert = csv.ConvertOptions(strings_can_be_null=True)
    try:
        table = csv.read_csv(path, parse_options=parse, convert_options=convert)
        zoned = [
            f.name for f in table.schema if pa.types.is_timestamp(f.type) and f.type.tz is not None
        ]
        if zoned:
            convert.column_types = {name: pa.string() for name in zoned}
            table = csv.read_csv(path, parse_options=parse, convert_options=convert)
    except (pa.ArrowException, UnicodeError):
        return None
    names = table.column_names
    if len(set(names)) < len(names) or "" in names:
        return None
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_null(field.type) or pa.types.is_binary(field.type):
            return None  # binary: text that is not UTF-8
        if pa.types.is_floating(field.type) and column.length() > column.null_count:
            # Integers past int64 come back as doubles, which would merge distinct ids.
            top = pc.max(pc.abs(column)).as_py()
            if top is not None and top >= 2.0**63 and top != float("inf"):
                return None
    return table


#: events from which an ingestion gives Arrow's freed pages back: below, they are a few
#: dozen MiB at most, and faulting them in again costs the next small ingestion more (0.15 ms
#: of 1 ms on 1,000 events) than keeping them costs anyone
RELEASE_FROM_ROWS = 1_000_000


def release_arrow_memory(rows: int | None = None) -> None:
    """Give back to the system the memory Arrow's pool keeps after freeing it, after work on
    ``rows`` events (None: whatever their number; see :data:`RELEASE_FROM_ROWS`).

    Arrow's allocator (mimalloc or jemalloc) keeps freed pages for its own reuse, but an
    event log is built in numpy arrays, which cannot reuse them. Called after reading a file
    (decompressed pages and decoding scratch: about 200 MiB on 10 million events, held to the
    end of the ingestion and adding to its peak), after an ingestion (the ids' hash table
    and the columns' conversions: 301 MiB on 10 million events) and once a file's table is
    ingested and freed (706 MiB on 10 million events from Parquet, resident until the
    process ends otherwise). A few milliseconds; nothing when pyarrow was never imported.
    """
    pa = sys.modules.get("pyarrow")
    if pa is not None and (rows is None or rows >= RELEASE_FROM_ROWS):
        pa.default_memory_pool().release_unused()


def _text_columns(path: Path) -> list[str]:
    """The text columns of a Parquet file with few distinct values (event types, channels).

    Read as Arrow dictionaries they stay the codes Parquet stores them as: no string is made
    per row. The first rows tell which columns repeat their values; a column of mostly
    distinct values (customer ids) is read as plain text, which is faster to read.
    """
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    text = [f.name for f in schema if is_text_type(f.type)]
    if not text:
        return []
    with pq.ParquetFile(path, read_dictionary=text) as file:
        first = next(file.iter_batches(batch_size=_SAMPLE_ROWS, columns=text), None)
    if first is None:
        return []
    return [
        name
        for name, column in zip(text, first.columns, strict=True)
        if len(column.dictionary) <= _FEW_DISTINCT * len(column)
    ]


#: rows sampled, and the share of distinct values up to which a text column is a dictionary
_SAMPLE_ROWS = 65_536
_FEW_DISTINCT = 0.05


def _unreadable(path: Path, kind: str, exc: Exception) -> UnreadableFileError:
    hint = " (is it a UTF-8 text file?)" if isinstance(exc, UnicodeError) else ""
    text = " ".join(str(exc).split())[:300]
    detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    check = " in UTF-8 text with a header row" if kind == "CSV" else ""
    return UnreadableFileError(
        f"Could not read {str(path)!r} as {kind}{hint}: {detail}. Check that it is a "
        f"non-empty {kind} file{check}.",
        brief=f"could not read {path} as {kind}{hint}: {detail}",
    )
