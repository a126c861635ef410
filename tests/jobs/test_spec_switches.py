"""Spec switches and run options on one finished run of the tiny model (the session's
`finished_job`, tests/jobs/finished_job.py), each checked by its effect a user can see:
`task.system_prompt` and `task.prime_tool_call: false` in the prompts the engine was
given, `task.dedup: false` on a repeated prompt, `--run-id`, `K2BATCH_LOG_LEVEL=debug`,
and a `file://` glob as `input.uri` counting exactly the rows of the files it matches."""

import json
import re

import pyarrow.parquet as pq
import pytest

from operators.render_prompt import Turn, render, to_token_ids
from operators.tokenizer import load_tokenizer
from tests.conftest import read_kind
from tests.jobs.finished_job import BLANK, DUPLICATED, RUN_ID, SYSTEM_PROMPT

pytestmark = pytest.mark.engine


def test_a_file_glob_reads_exactly_the_rows_of_the_files_it_matches(finished_job):
    summary = finished_job.summary
    matched = finished_job.matched_ids()
    assert summary["input_rows"] == len(matched) == 14, "other.parquet is beside them and not matched"
    records, rejects = read_kind(finished_job.output, "records"), read_kind(finished_job.output, "rejects")
    assert sorted([*records["doc_id"], *rejects["doc_id"]]) == matched
    assert summary["records"] + summary["rejects"] == summary["input_rows"]


def test_a_reject_rate_above_the_limit_exits_3_with_everything_written(finished_job):
    summary, result = finished_job.summary, finished_job.result
    assert summary["reject_reasons"].get("empty_input") == 1
    rejects = read_kind(finished_job.output, "rejects")
    assert BLANK in set(rejects["doc_id"])
    assert f"k2batch: error: reject rate {summary['rejects'] / 14:.1%} ({summary['rejects']} of 14 rows) exceeds " \
           "output.max_reject_rate 0.0%" in result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == summary


def test_the_run_id_names_the_run_and_its_log_folder(finished_job):
    summary = finished_job.summary
    assert summary["run_id"] == RUN_ID and summary["name"] == "finished"
    assert re.fullmatch(rf"_logs/\d{{8}}T\d{{6}}Z-{RUN_ID}", summary["logs"]), summary["logs"]
    assert (finished_job.output / summary["logs"] / "timeline.json").exists()


def test_debug_log_level_leaves_every_log_on_the_terminal(finished_job):
    terminal = finished_job.result.stdout + finished_job.result.stderr
    start = next(line for line in terminal.splitlines() if line.startswith("k2batch: finished run "))
    assert start.endswith("logs: this terminal (verbose)"), start
    assert "Initializing a V1 LLM engine" in terminal, "vLLM's log, which a quiet run keeps in its log file"
    assert "Started a local Ray instance" in terminal
    assert not (finished_job.output / finished_job.summary["logs"] / "k2batch.log").exists()


def test_the_system_prompt_and_an_unprimed_answer_are_what_the_engine_was_given(finished_job, tiny_model):
    """Each first-attempt record's prompt tokens are those of the spec's system prompt and
    the row's user turn, the assistant turn opened without `<tool_call>`."""
    files = sorted((finished_job.output / "records").glob("*.parquet"))
    metadata = pq.read_schema(files[0]).metadata
    system = metadata[b"k2batch.system_prompt"].decode()
    head, tail = SYSTEM_PROMPT.split("{tools}")
    assert system.startswith(head) and system.endswith(tail), system
    tool = json.loads(system[len(head):len(system) - len(tail)])
    assert tool["name"] == "record_headlines" and set(tool["parameters"]["properties"]) == {"city", "country", "headlines"}
    assert metadata[b"k2batch.model"].decode() == str(finished_job.model)
    bodies = {i: b for p in finished_job.data.glob("part-*.parquet")
              for i, b in zip(*pq.read_table(p, columns=["doc_id", "body"]).to_pydict().values())}
    tokenizer = load_tokenizer(str(tiny_model))
    prompt = finished_job.spec["task"]["prompt"]
    records = read_kind(finished_job.output, "records")
    first = records[records["_attempts"] == 1]
    assert len(first) >= 6, "constrained decoding makes most random answers valid at once"
    for row_id, tokens in zip(first["doc_id"], first["_prompt_tokens"]):
        ids = to_token_ids(render(system, [Turn("user", prompt.format(body=bodies[row_id]))], prime=""), tokenizer)
        assert tokens == len(ids), f"{row_id}: the engine was given {tokens} prompt tokens, the spec's prompt has {len(ids)}"


def test_dedup_off_answers_a_repeated_prompt_again(finished_job):
    """At temperature 0 dedup is on by default (tests/jobs/driver/test_retry_rejects.py);
    `task.dedup: false` turns it off: the repeated row is generated again."""
    summary = finished_job.summary
    assert summary["deduplicated_rows"] == 0 and summary["input_rows"] == 14
    assert DUPLICATED in finished_job.matched_ids()
