"""Reading and writing the rows of an import or export file: CSV with a header row, or JSON Lines.

A CSV file may come from Japanese Excel: UTF-8 with or without a byte-order mark, or Shift_JIS (cp932).
Exports write UTF-8 with a byte-order mark, which Excel needs to read Japanese correctly.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import IO, Any

from ...schemas.transfer import COLUMNS, EXPORT_ONLY_COLUMNS, FileFormat
from ..errors import InvalidField

SUFFIXES = {".csv": FileFormat.CSV, ".jsonl": FileFormat.JSONL, ".ndjson": FileFormat.JSONL}
# Enough of the file to tell UTF-8 from cp932: a cp932 file of Japanese text is rarely valid UTF-8 this long.
SNIFF_BYTES = 64 * 1024
# Cells of CSV files written by people (a whole Markdown body in one cell) exceed csv's default limit.
CSV_FIELD_LIMIT = 1_000_000


def format_of(name: str) -> FileFormat:
    """The format a file name's extension names; InvalidField for any other."""
    found = SUFFIXES.get(PurePath(name).suffix.lower())
    if found is None:
        raise InvalidField(
            "file", "unsupported_format", "CSV（.csv）または JSON Lines（.jsonl）のファイルを指定してください。"
        )
    return found


@dataclass(frozen=True)
class Record:
    """One row as read: its number and values by column, or why it could not be read (``error``)."""

    row: int
    values: dict[str, Any]
    error: dict[str, Any] | None = None


def row_error(row: int, field: str, kind: str, message: str) -> dict[str, Any]:
    """Why a row cannot be imported, in the API's error vocabulary (``field`` names the column, or the row or
    file as a whole), with its number."""
    return {"row": row, "field": field, "type": kind, "message": message}


def _encoding(stream: IO[bytes]) -> str:
    start = stream.read(SNIFF_BYTES)
    stream.seek(0)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(start, final=False)  # the sample may end mid-character
    except UnicodeDecodeError:
        return "cp932"
    return "utf-8-sig"


def read_records(stream: IO[bytes], file_format: FileFormat) -> Iterator[Record]:
    """Every row of the file, numbered as people count them: a CSV row as its spreadsheet row (the header is
    row 1), a JSON Lines row as its line; a blank JSON line is skipped, a blank CSV row is read as empty."""
    text = io.TextIOWrapper(stream, encoding=_encoding(stream), newline="")
    rows = _csv_records(text) if file_format is FileFormat.CSV else _jsonl_records(text)
    row = 0
    try:
        for record in rows:
            row = record.row
            yield record
    except UnicodeDecodeError:
        yield Record(
            row + 1,
            {},
            row_error(
                row + 1, "file", "encoding", "文字コードを読めません（UTF-8 または Shift_JIS で保存してください）。"
            ),
        )
    finally:
        text.detach()


def _csv_records(text: IO[str]) -> Iterator[Record]:
    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.reader(text)
    header = [name.strip() for name in next(reader, [])]
    unknown = [name for name in header if name not in COLUMNS and name not in EXPORT_ONLY_COLUMNS]
    if unknown or "title" not in header:
        message = f"不明な列があります: {', '.join(unknown)}" if unknown else "見出し行に title 列がありません。"
        yield Record(1, {}, row_error(1, "header", "unknown_column" if unknown else "missing_column", message))
        return
    try:
        for index, cells in enumerate(reader, start=2):
            if len(cells) > len(header):
                yield Record(index, {}, row_error(index, "row", "too_many_cells", "見出しより多くのセルがあります。"))
                continue
            # An empty cell is an omitted field: the field's default applies, as in a JSON row without it.
            yield Record(index, {name: cell for name, cell in zip(header, cells, strict=False) if cell != ""})
    except csv.Error as exc:
        yield Record(
            reader.line_num, {}, row_error(reader.line_num, "file", "invalid_csv", f"CSV として読めません: {exc}")
        )


def _jsonl_records(text: IO[str]) -> Iterator[Record]:
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            values = json.loads(line)
        except ValueError:
            yield Record(number, {}, row_error(number, "row", "invalid_json", "JSON として読めません。"))
            continue
        if not isinstance(values, dict):
            yield Record(
                number,
                {},
                row_error(number, "row", "object_expected", "1 行に 1 つの JSON オブジェクトを書いてください。"),
            )
            continue
        yield Record(number, values)


# Rendered text is handed on in pieces of about this size (a download's chunks).
CHUNK_CHARS = 64 * 1024


def rendered(file_format: FileFormat, records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The file of these records, in pieces: COLUMNS, then id, created_at, updated_at (and revisions in JSON Lines)."""
    buffer = io.StringIO()
    if file_format is FileFormat.CSV:
        buffer.write("\ufeff")
        writer = csv.DictWriter(buffer, fieldnames=[*COLUMNS, "id", "created_at", "updated_at"], lineterminator="\r\n")
        writer.writeheader()
    for record in records:
        if file_format is FileFormat.CSV:
            writer.writerow({**record, "tags": ",".join(record["tags"])})
        else:
            buffer.write(json.dumps(record, ensure_ascii=False) + "\n")
        if buffer.tell() >= CHUNK_CHARS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_records(stream: IO[str], file_format: FileFormat, records: Iterable[dict[str, Any]]) -> int:
    """Write the file of these records to the stream; how many records."""
    written = 0

    def counted() -> Iterator[dict[str, Any]]:
        nonlocal written
        for record in records:
            written += 1
            yield record

    for piece in rendered(file_format, counted()):
        stream.write(piece)
    return written
