"""Fingerprints decide whether an earlier run's output is reused: each changes with what
changes the answers (model files, prompt, sampling) and with nothing else."""

from jobs.plan.fingerprint import digest, job_fingerprint, model_fingerprint, prompt_fingerprint, sampling_fingerprint
from jobs.spec import JobSpec
from tests.conftest import job_spec


def spec(**sections) -> JobSpec:
    return JobSpec.model_validate(job_spec(**sections))


def test_a_digest_is_short_stable_and_blind_to_key_order():
    assert digest({"a": 1, "b": [2, 3]}) == digest({"b": [2, 3], "a": 1})
    assert digest("x", 1) != digest("x", 2) != digest(("x", 1))
    assert len(digest("x")) == 16 and int(digest("x"), 16) >= 0


def test_a_local_model_is_known_by_its_config_and_weight_files(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\0" * 10)
    job = spec()
    before = model_fingerprint(job, str(folder))
    (folder / "README.md").write_text("notes")  # not part of the model
    assert model_fingerprint(job, str(folder)) == before
    (folder / "model.safetensors").write_bytes(b"\0" * 11)  # retrained in place
    assert model_fingerprint(job, str(folder)) != before


def test_a_hub_model_is_known_by_its_id_and_revision():
    pinned = spec(model={"source": "LLM360/K2-Chat", "revision": "abc123"})
    other = spec(model={"source": "LLM360/K2-Chat", "revision": "def456"})
    assert model_fingerprint(pinned, "LLM360/K2-Chat") != model_fingerprint(other, "LLM360/K2-Chat")
    assert model_fingerprint(pinned, "LLM360/K2-Chat") == model_fingerprint(pinned, "LLM360/K2-Chat")


def test_a_model_dtype_set_in_the_spec_is_part_of_the_model_and_auto_keeps_the_old_fingerprint():
    auto = spec(model={"source": "LLM360/K2-Chat"})
    assert model_fingerprint(auto, "LLM360/K2-Chat") == digest("LLM360/K2-Chat", None, [])  # as before the field
    float32 = spec(model={"source": "LLM360/K2-Chat", "dtype": "float32"})
    bfloat16 = spec(model={"source": "LLM360/K2-Chat", "dtype": "bfloat16"})
    assert len({model_fingerprint(s, "LLM360/K2-Chat") for s in (auto, float32, bfloat16)}) == 3


def test_the_prompt_fingerprint_follows_the_prompt_and_the_system_prompt():
    base = spec()
    assert prompt_fingerprint(base, "SYS") == prompt_fingerprint(spec(), "SYS")
    assert prompt_fingerprint(base, "SYS") != prompt_fingerprint(base, "SYS2")
    assert prompt_fingerprint(base, "SYS") != prompt_fingerprint(spec(task={"prompt": "Other: {body}"}), "SYS")
    assert prompt_fingerprint(base, "SYS") != prompt_fingerprint(spec(task={"overflow": "truncate"}), "SYS")


def test_sampling_changes_the_fingerprint_and_batching_does_not():
    base = sampling_fingerprint(spec())
    assert sampling_fingerprint(spec(model={"max_tokens": 256})) != base
    assert sampling_fingerprint(spec(model={"temperature": 0.7})) != base
    assert sampling_fingerprint(spec(model={"max_attempts": 1})) != base
    # How rows are batched or how many engines answer them does not change an answer.
    assert sampling_fingerprint(spec(model={"batch_size": 1, "max_batches_in_flight": 1, "replicas": 2})) == base


def test_the_job_fingerprint_changes_with_any_part():
    parts = {"model": "m", "prompt": "p", "schema": "s", "sampling": "x"}
    job = job_fingerprint(**parts)
    assert all(job_fingerprint(**{**parts, name: "changed"}) != job for name in parts)
