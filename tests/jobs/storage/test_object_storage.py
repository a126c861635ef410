"""Jobs on object storage, against a real S3 server (moto on 127.0.0.1): s3:// input and
output with their own storage options, the commit protocol on S3, transient errors
ridden out, permanent ones failing fast in one line, and secrets kept out of
everything a user or a log scraper sees."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import s3fs

from jobs.storage.filesystem import filesystem_for
from jobs.storage.committed import committed_files
from jobs.storage.committed_unit import CommittedUnit
from jobs.storage.output_store import OutputConflictError, OutputStore
from jobs.storage.redact import redact, register_secrets
from jobs.plan.input_files import list_parquet_files
from jobs.storage.request_retries import S3_CLIENT_RETRIES, STEP_ATTEMPTS
from tests.conftest import job_spec, run_cli, write_job
from tests.jobs.conftest import upload_folder
from tests.s3_server import TEST_KEY, TEST_SECRET, Faults, committed_ids


def s3(options: dict) -> s3fs.S3FileSystem:
    return s3fs.S3FileSystem(**options, skip_instance_cache=True)


def stage(store: OutputStore, name: str) -> str:
    path = f"{store.new_staging_dir()}/{name}.parquet"
    with store.fs.open(path, "wb") as f:
        pq.write_table(pa.table({"doc_id": [name]}), f)
    return path


def unit(key: str, fingerprint: str = "fp-a") -> CommittedUnit:
    return CommittedUnit(key=key, input_path=f"in/{key}.parquet", job_fingerprint=fingerprint, rows=1, records=1,
                         start=0, fingerprints=[fingerprint], fingerprint_rows={fingerprint: {"records": 1, "rejects": 0}})


def test_commit_protocol_on_s3_lists_only_committed_files(bucket, s3_options):
    uri = f"s3://{bucket}/out"
    fs, root = filesystem_for(uri, s3_options)
    store = OutputStore(fs, root)
    assert store.prepare(mode="resume", job_fingerprint="fp-a", upgrade=dict) == {}
    store.settle({}, {})
    store.commit(unit("u1"), {"records": [stage(store, "a")]})
    # A crash after publishing u2's file but before its manifest entry, with staging left behind:
    raw = s3(s3_options)
    raw.pipe_file(f"{bucket}/out/records/part-u2-0.parquet", b"half a unit")
    stage(store, "b")

    assert committed_files(uri, "records", s3_options) == [f"s3://{bucket}/out/records/part-u1-0.parquet"]
    again = OutputStore(*filesystem_for(uri, s3_options))
    reused = again.prepare(mode="resume", job_fingerprint="fp-a", upgrade=dict)
    assert set(reused) == {"u1"}
    again.settle(reused, reused)
    raw.invalidate_cache()
    assert raw.find(f"{bucket}/out/records") == [f"{bucket}/out/records/part-u1-0.parquet"]
    assert raw.find(f"{bucket}/out/_staging") == [f"{bucket}/out/_staging/.write-check"]


def test_resume_refuses_to_mix_fingerprints_and_retires_changed_inputs(bucket, s3_options):
    uri = f"s3://{bucket}/out"
    store = OutputStore(*filesystem_for(uri, s3_options))
    store.prepare(mode="resume", job_fingerprint="fp-a", upgrade=dict)
    store.commit(unit("u1"), {"records": [stage(store, "a")]})
    store.commit(unit("u2"), {"records": [stage(store, "b")]})

    with pytest.raises(OutputConflictError, match="another job fingerprint \\(fp-a\\).*output.mode: overwrite"):
        store.prepare(mode="resume", job_fingerprint="fp-b", upgrade=dict)
    with pytest.raises(OutputConflictError, match="fail_if_exists"):
        store.prepare(mode="fail_if_exists", job_fingerprint="fp-a", upgrade=dict)
    assert len(committed_files(uri, "records", s3_options)) == 2, "a refused run must leave the output as it was"

    # Same fingerprint, but u2's input file changed (jobs/driver/resume.py reuses only u1): u2 is retired.
    committed = store.prepare(mode="resume", job_fingerprint="fp-a", upgrade=dict)
    assert set(committed) == {"u1", "u2"}
    store.settle(committed, {"u1": committed["u1"]})
    assert committed_files(uri, "records", s3_options) == [f"s3://{bucket}/out/records/part-u1-0.parquet"]
    assert store.prepare(mode="overwrite", job_fingerprint="fp-b", upgrade=dict) == {}
    assert committed_files(uri, "records", s3_options) == []


def test_storage_steps_ride_out_503s(bucket, s3_options, faulty_proxy):
    proxy = faulty_proxy(Faults(fraction=0.2, seed=3))
    options = {**s3_options, "endpoint_url": proxy.endpoint_url}
    uri = f"s3://{bucket}/out"
    store = OutputStore(*filesystem_for(uri, options))
    store.settle(store.prepare(mode="resume", job_fingerprint="fp-a", upgrade=dict), {})
    for key in ("u1", "u2"):
        store.commit(unit(key), {"records": [stage(store, key)], "rejects": [stage(store, key + "r")]})
    assert proxy.faults.failed > 0, "the proxy failed no request: the test tested nothing"
    assert len(committed_files(uri, "records", options)) == 2
    assert committed_ids(uri, options) == ["u1", "u1r", "u2", "u2r"]


def test_secrets_are_masked_at_any_depth_and_in_urls():
    options = {"endpoint_url": "http://127.0.0.1:9000", "client_kwargs": {"aws_session_token": "tok-123456"},
               "password": "pw-98765", "anon": False}
    register_secrets(options)
    assert redact("tok-123456 and pw-98765 at s3://user:pass@bucket/x via http://127.0.0.1:9000") == \
        "*** and *** at s3://***@bucket/x via http://127.0.0.1:9000"


def test_access_denied_fails_fast_in_one_line_without_secrets(tmp_path, tiny_model, news_data, s3_server, bucket, faulty_proxy):
    input_uri = upload_folder(s3_server, news_data, bucket, "news")
    denied = faulty_proxy(Faults(fraction=1.0, status=403, code="AccessDenied", message="Access Denied", max_in_a_row=10**9))
    options = {"endpoint_url": denied.endpoint_url, "key": TEST_KEY, "secret": TEST_SECRET}
    spec = job_spec(input={"uri": input_uri, "storage_options": options}, model={"source": str(tiny_model)},
                    output={"uri": str(tmp_path / "out")})
    result = run_cli("validate", str(write_job(tmp_path, spec)), timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("k2batch: error: input.uri: storage refused access"), result.stderr
    assert "input.storage_options" in lines[0]
    assert denied.faults.requests <= 3, "a permanent error must not be retried"
    assert TEST_SECRET not in result.stdout + result.stderr and TEST_KEY not in result.stdout + result.stderr


def test_missing_output_bucket_fails_before_the_engine_starts(tmp_path, tiny_model, news_data, s3_options):
    options = {**s3_options, "secret": "another-secret-value-42"}
    spec = job_spec(input={"uri": str(news_data)}, model={"source": str(tiny_model)},
                    output={"uri": "s3://no-such-bucket-k2batch/out/", "storage_options": options})
    result = run_cli("run", str(write_job(tmp_path, spec)), timeout=120)
    assert result.returncode == 2, result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("k2batch: error:")]
    assert error == [
        "k2batch: error: output.uri: storage refused access to s3://no-such-bucket-k2batch/out: "
        "The specified bucket does not exist (create the bucket or fix output.uri)"
    ], result.stderr
    assert result.stderr.strip().splitlines() == error, "failed after the run started (its start line came first)"
    assert "another-secret-value-42" not in result.stdout + result.stderr


def test_client_retry_settings_in_storage_options_are_kept(news_data, s3_server, bucket, faulty_proxy):
    """A store that answers every request with a 500, listed as a run lists its input:
    the client sends each request as often as the user's `config_kwargs.retries` says,
    not k2batch's default of 10 attempts (and k2batch tries the whole step again)."""
    input_uri = upload_folder(s3_server, news_data, bucket, "news")
    sent = {}
    for attempts in (1, 2):
        proxy = faulty_proxy(Faults(fraction=1.0, status=500, code="InternalError",
                                    message="We encountered an internal error. Please try again.", max_in_a_row=10**9))
        options = {"endpoint_url": proxy.endpoint_url, "key": TEST_KEY, "secret": TEST_SECRET,
                   "config_kwargs": {"retries": {"mode": "standard", "max_attempts": attempts}}}
        fs, path = filesystem_for(input_uri, options)
        with pytest.raises(OSError, match="internal error"):
            list_parquet_files(fs, path, input_uri)
        sent[attempts] = proxy.faults.requests
    assert STEP_ATTEMPTS <= sent[1] < sent[2] < S3_CLIENT_RETRIES["max_attempts"] * STEP_ATTEMPTS, sent


def s3_job(tmp_path, tiny_model, *, input_uri: str, input_options: dict, output_uri: str, output_options: dict, **sections):
    spec = job_spec(input={"uri": input_uri, "storage_options": input_options}, model={"source": str(tiny_model)},
                    output={"uri": output_uri, "storage_options": output_options}, **sections)
    return write_job(tmp_path, spec)


def input_ids(news_data) -> list[str]:
    return sorted(i for path in news_data.iterdir() for i in pq.read_table(path, columns=["doc_id"]).column(0).to_pylist())


@pytest.mark.engine
def test_example_job_reads_and_writes_s3(tmp_path, tiny_model, news_data, s3_server, bucket, s3_options):
    """Input credentials in input.storage_options; output credentials from the AWS
    environment variables (the fallback), with only the endpoint in the spec."""
    input_uri = upload_folder(s3_server, news_data, bucket, "news")
    output_uri = f"s3://{bucket}/results/news/"
    env_secret = "env-secret-value-DO-NOT-LEAK-987"
    env = {"AWS_ACCESS_KEY_ID": "AKIAENVKEYK2BATCH0001", "AWS_SECRET_ACCESS_KEY": env_secret}
    job = s3_job(tmp_path, tiny_model, input_uri=input_uri, input_options=s3_options, output_uri=output_uri,
                 output_options={"endpoint_url": s3_server.endpoint_url})

    result = run_cli("run", str(job), env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(s3(s3_options).cat_file(f"{bucket}/results/news/summary.json"))
    assert summary["input_rows"] == 24 and summary["records"] + summary["rejects"] == 24
    assert summary["units"] == 3 and summary["reused_units"] == 0
    assert committed_ids(output_uri, s3_options) == input_ids(news_data)
    top_level = {key.split("/")[2] for key in s3_server.keys(bucket, "results/")}
    assert {"records", "_manifest", "summary.json", "report.html", "_logs"} <= top_level <= \
        {"records", "rejects", "_manifest", "summary.json", "report.html", "_logs"}, "staging must be cleared after a successful run"
    log = s3(s3_options).cat_file(f"{bucket}/results/news/{summary['logs']}/k2batch.log").decode()
    assert "Initializing a V1 LLM engine" in log, "the run's log, written locally, is copied to the output"
    assert result.stderr.splitlines()[0].endswith(f"(copied to {output_uri.rstrip('/')}/{summary['logs']}/ at the end)")

    everything = result.stdout + result.stderr + json.dumps(summary)
    for key in s3_server.keys(bucket, "results/"):
        everything += s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read().decode("latin-1")
    for secret in (TEST_SECRET, env_secret):
        assert secret not in everything

    # The same spec again: every unit is reused, no engine starts.
    again = run_cli("run", str(job), env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    summary = json.loads(again.stdout.splitlines()[-1])
    assert (summary["reused_units"], summary["reused_rows"]) == (3, 24)
    log = s3(s3_options).cat_file(f"{bucket}/results/news/{summary['logs']}/k2batch.log").decode()
    assert "Started a local Ray instance" not in log and "K2Engine" not in log, "nothing left to run: no Ray, no engine"
    assert committed_ids(output_uri, s3_options) == input_ids(news_data)


@pytest.mark.engine
def test_job_completes_when_the_store_fails_some_requests_with_503(tmp_path, tiny_model, news_data, s3_server, bucket, s3_options, faulty_proxy):
    input_uri = upload_folder(s3_server, news_data, bucket, "news")
    proxy = faulty_proxy(Faults(fraction=0.15, limit=40, seed=7))
    options = {**s3_options, "endpoint_url": proxy.endpoint_url}  # driver and Ray workers all go through it
    output_uri = f"s3://{bucket}/out/"
    job = s3_job(tmp_path, tiny_model, input_uri=input_uri, input_options=options, output_uri=output_uri, output_options=options)

    result = run_cli("run", str(job))
    assert result.returncode == 0, result.stderr[-3000:]
    assert proxy.faults.failed > 0, "the proxy failed no request: the test tested nothing"
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["records"] + summary["rejects"] == 24
    assert committed_ids(output_uri, s3_options) == input_ids(news_data)
