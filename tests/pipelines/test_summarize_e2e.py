"""Summarize mode end to end on the tiny model: the extraction turn then the summary
turn in the same engine actor, and the standalone variant over an existing JSON column.

Three engine starts: the CLI run, the notebook preview's warm engine (serving both
preview checks), and the in-process run of the standalone job.
"""

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.spec import JobSpec
from operators import k2_format as k2
from operators.render_prompt import Turn, render, to_token_ids
from operators.outcome import REASONS
from tests.conftest import job_spec, read_kind, run_cli, write_job

pytestmark = pytest.mark.engine

SUMMARY_MODEL = {"max_model_len": 2048, "max_tokens": 192}  # a random model's free text runs long: keep it short
EXTRACTION_REASONS = {"truncated", "schema_invalid", "invalid_json", "bad_call", "no_tool_call"}
SUMMARY_REASONS = {"summary_truncated", "summary_empty", "prompt_too_long"}
MAX_REJECT_RATE = 0.25
# Long rows make the first turn's own tokens (beyond the shared system prompt) span
# several KV blocks, so a cache hit on them is visible in the count.
LONG_NOTE = " ".join(f"note{j}" for j in range(30))


def read_output(out: Path) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    summary = json.loads((out / "summary.json").read_text())
    return summary, read_kind(out, "records"), read_kind(out, "rejects")


def test_extract_then_summarize_writes_a_summary_for_every_record(tmp_path, tiny_model, news_data):
    spec = job_spec(
        input={"uri": str(news_data)}, task={"mode": "summarize"},
        model={"source": str(tiny_model), **SUMMARY_MODEL},
        # A random model's free text often runs to max_tokens: a quarter of the rows may be rejects.
        output={"uri": str(tmp_path / "out"), "max_reject_rate": MAX_REJECT_RATE},
    )
    result = run_cli("run", str(write_job(tmp_path, spec)))
    assert result.returncode == 0, result.stderr[-3000:]
    summary, records, rejects = read_output(tmp_path / "out")
    ids = pd.read_parquet(news_data)["doc_id"].tolist()
    assert sorted([*records["doc_id"], *rejects["doc_id"]]) == sorted(ids)
    assert summary["records"] + summary["rejects"] == summary["input_rows"] == len(ids)
    assert (summary["records"], summary["rejects"]) == (len(records), len(rejects))
    assert len(records) >= (1 - MAX_REJECT_RATE) * len(ids), f"{len(records)} summaries: {summary['reject_reasons']}"
    texts = [*records["summary"], *records["city"], *records["country"], *(h["title"] for hs in records["headlines"] for h in hs)]
    assert not [t for t in texts if any(tag in t for tag in (*k2.SPECIAL_TAGS, k2.EOS))], "a K2 tag in a record or summary"

    schema = pq.read_schema(next((tmp_path / "out/records").glob("*.parquet")))
    assert schema.names[:5] == ["doc_id", "city", "country", "headlines", "summary"]
    assert schema.field("summary").type == pa.string() and not schema.field("summary").nullable
    assert records["summary"].map(lambda s: isinstance(s, str) and s.strip() == s and s != "").all()
    assert (records["_attempts"] >= 2).all(), "one extraction and at least one summary generation per record"
    assert set(rejects["reason"]) <= EXTRACTION_REASONS | SUMMARY_REASONS
    assert set(summary["reject_reasons"]) <= set(REASONS)


def test_the_summary_turn_hits_the_prefix_cache_and_a_json_column_is_summarized(tmp_path, tiny_model, tiny_tokenizer):
    import ray

    from jobs import notebook
    from jobs.plan.resolve import resolve_job
    from pipelines import engine_actor

    data = tmp_path / "orders"
    data.mkdir()
    responses = [json.dumps({"order": i, "items": ["tea", "rice"][: 1 + i % 2], "total": 3.5 * i}) for i in range(10)]
    responses[3] = "{not json"
    responses[4] = None
    pq.write_table(pa.table({"order_id": [f"o{i}" for i in range(10)], "customer": [f"Customer {i}: {LONG_NOTE}" for i in range(10)],
                             "details": responses}), data / "part-0.parquet")
    standalone = JobSpec.model_validate(job_spec(
        name="orders", input={"uri": str(data), "id_column": "order_id"},
        task={"mode": "summarize", "schema": None, "tool_name": None, "tool_description": None,
              "response_column": "details", "prompt": "Summarize the order of {customer}."},
        model={"source": str(tiny_model), **SUMMARY_MODEL}, output={"uri": str(tmp_path / "out")},
    ))
    with_extraction = JobSpec.model_validate(job_spec(
        input={"uri": str(data), "id_column": "order_id"},
        task={"mode": "summarize", "prompt": "Extract the headlines from: {customer}"},
        model={"source": str(tiny_model), **SUMMARY_MODEL}, output={"uri": str(tmp_path / "unused")},
    ))
    system_prompt = resolve_job(with_extraction).system_prompt
    try:
        extracted = notebook.preview(with_extraction, n=4)
        engine = engine_actor._session["engine"]
        summarized = extracted[extracted["reason"].isna()]
        assert len(summarized) > 0, extracted[["reason", "error"]]
        # The summary prompt starts with the row's whole extraction prompt, which the
        # engine served from its prefix cache (whole KV blocks of up to 128 tokens): only
        # the engine that answered the first turn holds it.
        for customer, cached in zip(summarized["customer"], summarized["_summary_cached_tokens"]):
            first_turn = to_token_ids(render(system_prompt, [Turn("user", f"Extract the headlines from: {customer}")],
                                             prime=k2.TOOL_CALL_OPEN), tiny_tokenizer)
            assert cached >= len(first_turn) - 128, (cached, len(first_turn))

        previewed = notebook.preview(standalone, n=10)
        assert engine_actor._session["engine"] is engine, "the warm engine was reused"
        assert list(previewed["order_id"]) == [f"o{i}" for i in range(10)]
        by_id = previewed.set_index("order_id")
        assert by_id.loc["o3", "reason"] == "invalid_json" and "'details' of row 'o3'" in by_id.loc["o3", "error"]
        assert by_id.loc["o4", "reason"] == "empty_input"
        assert by_id.loc[["o3", "o4"], "_attempts"].eq(0).all(), "bad JSON never reaches the engine"

        result = notebook.run(standalone, progress=False)
    finally:
        notebook.release_engine()
        ray.shutdown()
    summary, records, rejects = read_output(tmp_path / "out")
    assert summary == json.loads(result.summary.to_json())
    assert sorted([*records["order_id"], *rejects["order_id"]]) == [f"o{i}" for i in range(10)]
    reasons = dict(zip(rejects["order_id"], rejects["reason"]))
    assert (reasons["o3"], reasons["o4"]) == ("invalid_json", "empty_input"), "a null or broken JSON is never summarized"
    assert len(records) >= 0.75 * 8, f"{len(records)} of the 8 summarizable rows: {summary['reject_reasons']}"
    assert list(records.columns[:2]) == ["order_id", "summary"], "no extracted fields, then the summary"
    assert records["summary"].str.strip().str.len().gt(0).all()
    assert set(rejects["reason"]) <= {"invalid_json", "empty_input"} | SUMMARY_REASONS
