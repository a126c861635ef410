"""Scheduled ETL: run parameters, a day re-run without duplicates, and every exit code
provoked for real, through `k2batch run` as cron or Airflow runs it."""

import json
import re
import shlex
from pathlib import Path

import pytest

from jobs.cli import build_parser
from jobs.spec.params import ParamError, default_run_id, fill_params, parse_params
from tests.conftest import ROOT, read_kind, run_cli

DAILY = ROOT / "jobs/examples/news_daily.yaml"
DAY = "2026-11-26"


@pytest.fixture
def daily_data(tmp_path) -> Path:
    """One day's partition, laid out as the daily spec expects: news/dt=DAY/."""
    from examples.news_sample import write_sample

    write_sample(tmp_path / "news" / f"dt={DAY}", rows=12, files=3)
    return tmp_path / "news"


def daily_run(tmp_path, tiny_model, daily_data, *extra: str, day: str = DAY):
    """The example daily job, its paths pointed at this test's folders (the {ds}
    placeholders stay: --set values are filled like the spec's own)."""
    return run_cli(
        "run", str(DAILY), "--param", f"ds={day}",
        "--set", f"input.uri={daily_data}/dt={{ds}}/", "--set", f"output.uri={tmp_path}/out/dt={{ds}}/",
        "--set", f"model.source={tiny_model}", *extra,
    )


def last_line_summary(result) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.engine
def test_a_day_run_twice_writes_each_row_once(tmp_path, tiny_model, daily_data):
    first = daily_run(tmp_path, tiny_model, daily_data)
    assert first.returncode == 0, first.stderr[-3000:]
    out = tmp_path / "out" / f"dt={DAY}"
    summary = last_line_summary(first)
    assert summary == json.loads((out / "summary.json").read_text())
    assert summary["run_id"] == f"news-daily[ds={DAY}]"
    assert summary["input_rows"] == 12 and summary["reused_units"] == 0

    second = daily_run(tmp_path, tiny_model, daily_data)
    assert second.returncode == 0, second.stderr[-3000:]
    again = last_line_summary(second)
    assert again["run_id"] == summary["run_id"]
    assert again["reused_units"] == again["units"] == 3 and again["reused_rows"] == 12
    assert (again["records"], again["rejects"]) == (summary["records"], summary["rejects"])
    ids = [*read_kind(out, "records")["doc_id"], *read_kind(out, "rejects")["doc_id"]]
    assert len(ids) == len(set(ids)) == 12


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "k2batch: error: input.uri: placeholder {ds} has no value; pass --param ds=VALUE"),
        (["--param", f"ds={DAY}", "--param", "region=eu"],
         "k2batch: error: --param region: no {region} placeholder in input.uri or output.uri"),
        (["--param", "ds"], "k2batch: error: --param 'ds': expected NAME=VALUE with NAME a plain identifier"),
        (["--param", f"ds={DAY}", "--set", "output.max_reject_rate=2"],
         "k2batch: error: invalid job spec: output.max_reject_rate: Input should be less than or equal to 1"),
        (["--param", f"ds={DAY}", "--set", "model: [oops"], "k2batch: error: --set 'model: [oops': expected key.path=value"),
    ],
    ids=["missing-param", "unknown-param", "malformed-param", "bad-value", "bad-override"],
)
def test_a_bad_spec_exits_2(args, expected):
    result = run_cli("run", str(DAILY), *args, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == expected
    assert result.stdout == ""


@pytest.mark.engine
def test_too_many_rejects_exit_3_with_results_written(tmp_path, tiny_model, daily_data):
    """No answer fits: the schema wants a 200-character string and an attempt may
    generate 24 tokens, so every row ends truncated and becomes a reject."""
    schema = tmp_path / "long_summary.json"
    schema.write_text(json.dumps({
        "type": "object", "properties": {"summary": {"type": "string", "minLength": 200, "maxLength": 300}},
        "required": ["summary"], "additionalProperties": False,
    }))
    result = daily_run(tmp_path, tiny_model, daily_data, "--set", f"task.schema={schema}",
                       "--set", "model.max_tokens=24", "--set", "model.max_attempts=1")
    assert result.returncode == 3, result.stderr[-3000:]
    assert "k2batch: error: reject rate 100.0% (12 of 12 rows) exceeds output.max_reject_rate 5.0%" in result.stderr
    summary = last_line_summary(result)
    assert summary == json.loads((tmp_path / "out" / f"dt={DAY}" / "summary.json").read_text())
    assert (summary["records"], summary["rejects"]) == (0, 12)
    assert summary["reject_reasons"] == {"truncated": 12}


def test_an_unwritable_output_exits_4(tmp_path, tiny_model, daily_data):
    """Output storage that cannot be written (here: its folder's parent is a file) is an
    infrastructure failure: a scheduler may retry once storage is fixed."""
    blocker = tmp_path / "out"
    blocker.write_text("not a folder")
    result = daily_run(tmp_path, tiny_model, daily_data)
    assert result.returncode == 4
    assert result.stderr.strip().splitlines()[-1].startswith("k2batch: error: NotADirectoryError:")
    assert result.stdout == ""


def test_params_fill_only_the_uris():
    data = {"name": "x", "input": {"uri": "s3://b/news/dt={ds}/"}, "output": {"uri": "s3://b/out/dt={ds}/"},
            "task": {"prompt": "Summarize {body}"}}
    fill_params(data, parse_params([f"ds={DAY}"]))
    assert data["input"]["uri"] == f"s3://b/news/dt={DAY}/" and data["output"]["uri"] == f"s3://b/out/dt={DAY}/"
    assert data["task"]["prompt"] == "Summarize {body}"
    with pytest.raises(ParamError, match=r"output.uri: placeholder \{ds!r\} must be a plain name"):
        fill_params({"input": {"uri": "a"}, "output": {"uri": "b/{ds!r}"}}, {"ds": "1"})
    with pytest.raises(ParamError, match="--param ds is given twice"):
        parse_params(["ds=1", "ds=2"])
    assert default_run_id("news-daily", {"ds": DAY, "region": "eu"}) == f"news-daily[ds={DAY},region=eu]"
    assert default_run_id("news-daily", {}) == "news-daily"


def test_the_cron_line_and_the_airflow_command_are_valid_k2batch_commands():
    import examples.airflow_dag as dag

    cron = [line for line in (ROOT / "examples/cron/k2batch.cron").read_text().splitlines()
            if line.strip() and not line.startswith("#") and "=" not in line.split()[0]]
    assert len(cron) == 1
    command = " ".join(cron[0].split()[5:]).replace(r"\%", "%")  # after the five time fields, as cron runs it
    command = command.replace("$(date +%F)", DAY)
    airflow = dag.DAILY_COMMAND.replace("{{ ds }}", DAY)
    for line in (command, airflow):
        k2batch = shlex.split(line.split("&&")[1].split(">>")[0])
        assert k2batch[0].endswith("k2batch")
        args = build_parser().parse_args(k2batch[1:])
        assert (args.command, args.job, args.params) == ("run", "jobs/examples/news_daily.yaml", [f"ds={DAY}"])
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", args.params[0].split("=")[1])
