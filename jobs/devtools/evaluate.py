"""Score a job's output against a gold sample (pure: tables in, a report out).

JSON-Mode-Eval style: a row passes when its record exists and every scored top-level
field equals the gold value. Gold fields that are missing or null are not scored, so a
partly labeled sample still counts what it does label. A reject is wrong on every field
it should have had, never left out: the denominators are the gold rows.
"""

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import pyarrow as pa


class GoldError(ValueError):
    """The gold sample cannot be read as the job's expected records."""


@dataclass
class FieldScore:
    scored: int = 0
    correct: int = 0

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.scored if self.scored else None


@dataclass
class EvalReport:
    rows: int
    records: int
    rejects: int
    schema_valid: int
    fields: dict[str, FieldScore]
    passed: int
    scored_rows: int
    reject_reasons: dict[str, int]
    mismatches: list[dict] = field(default_factory=list)  # the first few, to show what went wrong

    @property
    def schema_valid_share(self) -> float | None:
        return self.schema_valid / self.rows if self.rows else None

    @property
    def record_pass_rate(self) -> float | None:
        return self.passed / self.scored_rows if self.scored_rows else None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["fields"] = {name: {**asdict(s), "accuracy": s.accuracy} for name, s in self.fields.items()}
        data["schema_valid_share"] = self.schema_valid_share
        data["record_pass_rate"] = self.record_pass_rate
        return data


def normalize(value: Any) -> Any:
    """Compare values as JSON: Parquet has no "absent", so null keys count as absent."""
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    return value


def gold_expectations(table: pa.Table, *, id_column: str, fields: list[str],
                      expected_column: str | None = None) -> dict[Any, dict]:
    """Expected record per id, from one JSON (or struct) column or from columns named like
    the schema's top-level `fields`; nulls dropped."""
    if id_column not in table.column_names:
        raise GoldError(f"the gold sample has no id column {id_column!r} (it has {table.column_names})")
    if expected_column is not None:
        if expected_column not in table.column_names:
            raise GoldError(f"the gold sample has no column {expected_column!r} (it has {table.column_names})")
        rows = [(row[id_column], _expected_value(row[expected_column], row[id_column]))
                for row in table.select([id_column, expected_column]).to_pylist()]
    else:
        present = [f for f in fields if f in table.column_names]
        if not present:
            raise GoldError(
                f"the gold sample has no column named after a schema field ({fields}) and no expected column: "
                "add the expected record as columns, or as one JSON column passed with --expected-column"
            )
        rows = [(row[id_column], {f: row[f] for f in present}) for row in table.select([id_column, *present]).to_pylist()]
    gold: dict[Any, dict] = {}
    for row_id, expected in rows:
        if row_id in gold:
            raise GoldError(f"id {row_id!r} appears twice in the gold sample")
        unknown = sorted(set(expected) - set(fields))
        if unknown:
            raise GoldError(f"gold row {row_id!r}: {unknown} are not fields of the schema ({fields})")
        gold[row_id] = normalize(expected)
    return gold


def _expected_value(value: Any, row_id: Any) -> dict:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise GoldError(f"gold row {row_id!r}: the expected record is not valid JSON: {err}") from err
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GoldError(f"gold row {row_id!r}: the expected record must be a JSON object, got {type(value).__name__}")
    return value


def record_matches(expected: dict, record: dict | None) -> bool:
    """Every expected field has the expected value in `record` (None: no record)."""
    return record is not None and all(normalize(record).get(name) == want for name, want in expected.items())


def score(gold: dict[Any, dict], records: dict[Any, dict], reject_reasons: dict[Any, str], *,
          validate: Callable[[dict], str | None], max_mismatches: int = 5) -> EvalReport:
    """`records`/`reject_reasons` are keyed by id; `validate` returns None or the schema errors."""
    report = EvalReport(rows=len(gold), records=0, rejects=0, schema_valid=0, fields={}, passed=0, scored_rows=0,
                        reject_reasons=dict(Counter(reject_reasons[i] for i in gold if i in reject_reasons)))
    for row_id, expected in gold.items():
        record = records.get(row_id)
        if record is not None:
            report.records += 1
            record = normalize(record)
            report.schema_valid += validate(record) is None
        elif row_id in reject_reasons:
            report.rejects += 1
        row_passed = record is not None
        for name, want in expected.items():
            got = None if record is None else record.get(name)
            field_score = report.fields.setdefault(name, FieldScore())
            field_score.scored += 1
            if record is not None and got == want:
                field_score.correct += 1
            else:
                row_passed = False
                if len(report.mismatches) < max_mismatches:
                    report.mismatches.append({"id": row_id, "field": name, "expected": want, "got": got,
                                              "reject": reject_reasons.get(row_id)})
        if expected:
            report.scored_rows += 1
            report.passed += row_passed
    return report


def format_report(report: EvalReport) -> str:
    """The report as a small text table."""
    def share(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    width = max([len("whole record"), *(len(name) for name in report.fields)])
    lines = [
        f"rows {report.rows}   records {report.records}   rejects {report.rejects}   "
        f"schema-valid {share(report.schema_valid_share)}",
        f"{'field':<{width}}  {'scored':>6}  {'correct':>7}  {'accuracy':>8}",
    ]
    for name, s in report.fields.items():
        lines.append(f"{name:<{width}}  {s.scored:>6}  {s.correct:>7}  {share(s.accuracy):>8}")
    lines.append(f"{'whole record':<{width}}  {report.scored_rows:>6}  {report.passed:>7}  {share(report.record_pass_rate):>8}")
    if report.reject_reasons:
        lines.append("reject reasons: " + ", ".join(f"{k} {v}" for k, v in sorted(report.reject_reasons.items())))
    return "\n".join(lines)
