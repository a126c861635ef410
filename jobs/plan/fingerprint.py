"""Fingerprints: what must match for an earlier run's output to be reused."""

import hashlib
import json
from pathlib import Path

from jobs.spec import JobSpec


def digest(*parts: object) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def model_fingerprint(spec: JobSpec, resolved_source: str) -> str:
    """A hub id with its revision; a local folder by its config and weight files,
    so a model retrained in place is a different model."""
    folder = Path(resolved_source)
    files = []
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.suffix in {".json", ".safetensors", ".bin", ".model"}:
                stat = path.stat()
                files.append((path.name, stat.st_size, int(stat.st_mtime)))
    # model.dtype when set: answers computed in another type are not reused. auto leaves the
    # fingerprint as it was before the field existed, so older outputs still resume.
    dtype = [spec.model.dtype] if spec.model.dtype != "auto" else []
    return digest(spec.model.source, spec.model.revision, files, *dtype)


def prompt_fingerprint(spec: JobSpec, system_prompt: str) -> str:
    task = spec.task
    return digest(system_prompt, task.prompt, task.prime_tool_call, task.tool_name, task.tool_description, task.mode,
                  task.response_column, task.label_field, task.overflow)


def sampling_fingerprint(spec: JobSpec) -> str:
    m = spec.model
    # task.confidence changes how a label is chosen and which columns a record has; off, the
    # fingerprint is what it was before the field existed, so older outputs still resume.
    confidence = ["confidence"] if spec.task.confidence else []
    return digest(m.temperature, m.seed, m.max_tokens, m.max_attempts, m.max_model_len, *confidence)


def job_fingerprint(*, model: str, prompt: str, schema: str, sampling: str) -> str:
    return digest(model, prompt, schema, sampling)
