"""The workload every benchmark shares, so that contenders differ only in the framework.

One model (the tiny random-weight K2-layout model, or `--model` for a real one), news
rows as Parquet (examples/news_sample.py), the demo job's spec, and the engine settings
K2Engine uses, from the same builders (operators/engine_settings.py via jobs/plan/settings_from_spec.py):
the same engine arguments, the same sampling, the same structured-output constraint and
the same CPU thread binding for every contender.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEMO_JOB = ROOT / "jobs" / "examples" / "news_extract.yaml"
# Models and inputs are written here once and reused by every script (not a temp dir:
# the model takes seconds to write and all five benchmarks share it).
WORKDIR = Path(os.environ.get("K2BATCH_BENCH_DIR", "/tmp/k2batch-bench"))


def model_source(model: str | None) -> str:
    """`--model` as given (a folder or a hub id), else the tiny model, written on first use."""
    if model:
        path = Path(model).expanduser()
        return str(path.resolve()) if path.exists() else model
    path = WORKDIR / "models" / "k2-tiny"
    if not (path / "config.json").exists():
        from jobs.devtools.testmodel import write_test_model

        write_test_model(path)
    return str(path)


def write_news_rows(folder: Path, *, rows: int, files: int, unique: bool = False) -> Path:
    """`rows` synthetic news articles in `files` Parquet files (replacing the folder).
    `unique`: no article twice, from either split (the generator repeats a few, and a
    repeated prompt is answered once: contenders without dedup would do more work)."""
    from examples.news_sample import write_sample

    shutil.rmtree(folder, ignore_errors=True)
    write_sample(folder, rows=rows, files=files, seed=0, **({"split": None, "unique": True} if unique else {}))
    return folder


def job_spec(*, name: str, model: str, input_uri: Path, output_uri: Path, task: dict | None = None, **model_fields):
    """The demo job (jobs/examples/news_extract.yaml) pointed at benchmark folders."""
    from jobs.spec import JobSpec

    data = yaml.safe_load(DEMO_JOB.read_text())
    data["name"] = name
    data["input"]["uri"] = str(input_uri)
    data["output"] = {"uri": str(output_uri), "mode": "overwrite", "max_reject_rate": 1.0}
    data["model"] = {**data["model"], "source": model, **model_fields}
    data["task"] = {**data["task"], **(task or {})}
    return JobSpec.model_validate(data)


def engine_env(spec) -> dict[str, str]:
    """The environment every contender's engine runs with: the same model runner, all
    cores bound for compute and the same KV cache, from the builder K2Engine uses
    (EngineSettings.environment)."""
    from jobs.plan.settings_from_spec import engine_settings

    settings = engine_settings(spec, spec.model.source)
    return settings.environment(cpu_cores=sorted(os.sched_getaffinity(0)))


def engine_kwargs(spec, source: str) -> dict[str, Any]:
    """The vLLM engine arguments K2Engine builds (EngineSettings.vllm_engine_kwargs), CPU case."""
    from jobs.plan.settings_from_spec import engine_settings

    return engine_settings(spec, source).vllm_engine_kwargs(cpu=True)


def constraint(checked) -> dict:
    """The structured-output JSON Schema of one tool call, as K2Engine passes it."""
    from schemas.tool_call import tool_call_json_schema

    return tool_call_json_schema(name=checked.spec.task.tool_name, parameters=checked.record_schema.constraint_parameters)


def sampling_kwargs(checked) -> dict[str, Any]:
    """SamplingParams fields K2Engine sets (SamplingSettings.answer_fields, built by
    operators/sampling.py: K2's tags masked out, no stop strings), the constraint included."""
    from transformers import AutoConfig

    from jobs.plan.settings_from_spec import sampling_settings
    from operators.tokenizer import load_tokenizer

    model = checked.spec.model
    vocab_size = AutoConfig.from_pretrained(checked.model_source, revision=model.revision).vocab_size
    return sampling_settings(checked.spec).answer_fields(load_tokenizer(checked.model_source, model.revision), vocab_size,
                                                         constraint=constraint(checked))


def sampling_params(checked):
    """k2batch's SamplingParams, with the answer's text from vLLM's own detokenizer (its
    default), as a plain vLLM user gets it; k2batch decodes each answer once instead
    (operators/sampling.py output_text)."""
    from operators.sampling import sampling_params

    return sampling_params({**sampling_kwargs(checked), "detokenize": True})


def prepared_rows(checked):
    """Every input row as k2batch's own stage prepares it (operators.prepare_prompts.PreparePrompts:
    the rendered, tokenized first-attempt prompt and the columns the engine reads), in doc_id order."""
    import pandas as pd

    from jobs.plan.settings_from_spec import prompt_settings
    from operators.prepare_prompts import PreparePrompts

    spec = checked.spec
    frames = [pd.read_parquet(path, filesystem=None).assign(_unit=path) for path in checked.input_files]
    batch = pd.concat(frames, ignore_index=True).sort_values(spec.input.id_column, ignore_index=True)
    prepared = PreparePrompts.from_settings(prompt_settings(checked))(batch)
    if prepared["_reject_reason"].notna().any():
        raise ValueError(f"benchmark rows must all be valid prompts: {prepared['_reject_reason'].value_counts().to_dict()}")
    return prepared


def alternating_generates(llm, prompts: list[dict], params: dict[str, Any], *, reps: int) -> dict[str, dict[str, list]]:
    """Each setting's SamplingParams in `params` through one `generate` over `prompts` on a
    started `vllm.LLM`, the settings alternating, the prefix cache reset before each,
    `reps` times: per setting, each run's rows/s and its output and prompt tokens."""
    runs: dict[str, dict[str, list]] = {s: {"rows_per_s": [], "output_tokens": [], "prompt_tokens": []} for s in params}
    for _ in range(reps):
        for setting, setting_params in params.items():
            llm.reset_prefix_cache()
            started = time.monotonic()
            outputs = llm.generate(prompts, setting_params, use_tqdm=False)
            runs[setting]["rows_per_s"].append(len(prompts) / (time.monotonic() - started))
            runs[setting]["output_tokens"].append(sum(len(o.outputs[0].token_ids) for o in outputs))
            runs[setting]["prompt_tokens"].append(sum(len(o.prompt_token_ids) for o in outputs))
    return runs


def prompt_token_ids(checked) -> list[list[int]]:
    """The first-attempt prompts of every input row (`prepared_rows`), in doc_id order."""
    return [[int(i) for i in ids] for ids in prepared_rows(checked)["_prompt_ids"]]


# A side-by-side ratio holds only over equal work: each contender's prompt and output
# tokens per row within this share of the first contender's. Greedy decoding under the
# same constraint gives the same answers; what may differ is a re-ask (k2batch counts
# its tokens), so 2% is about one re-ask in fifty rows.
EQUAL_WORK_TOLERANCE = 0.02


def unequal_work(per_row: dict[str, tuple[float, float]], tolerance: float = EQUAL_WORK_TOLERANCE) -> str | None:
    """Why a ratio between these contenders would compare unequal work, or None.
    `per_row`: each contender's (prompt tokens, output tokens) per row, the first the reference."""
    (reference, (prompt, output)), *others = per_row.items()
    problems = [f"{name} processed {p:.1f} prompt / {o:.1f} output tokens per row against {reference}'s "
                f"{prompt:.1f} / {output:.1f}" for name, (p, o) in others
                if abs(p - prompt) > tolerance * prompt or abs(o - output) > tolerance * output]
    if not problems:
        return None
    return "; ".join(problems) + f": more than {tolerance:.0%} apart, so no ratio between them means anything"


def summarize(values: list[float]) -> dict[str, float]:
    """Median and spread (min, max, and max-min relative to the median) of repetitions."""
    median = statistics.median(values)
    return {
        "median": median, "min": min(values), "max": max(values), "n": len(values),
        "spread_pct": 100.0 * (max(values) - min(values)) / median if median else 0.0,
    }


def fmt(stat: dict[str, float], unit: str = "", digits: int = 1) -> str:
    if stat["n"] == 1:
        return f"{stat['median']:.{digits}f}{unit} (1 run)"
    return (f"{stat['median']:.{digits}f}{unit} median of {stat['n']} "
            f"[{stat['min']:.{digits}f}-{stat['max']:.{digits}f}, spread {stat['spread_pct']:.0f}%]")


CHILD_RESULT = "K2BATCH_BENCH_RESULT "


def run_child(module: str, args: list[str], *, env: dict[str, str] | None = None, log: Path | None = None,
              timeout: float = 1800) -> dict:
    """Run `python -m benchmarks.<module> ARGS` in a fresh process (one engine each, so no
    contender inherits another's engine, memory or threads); return the JSON it printed last."""
    child_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", f"benchmarks.{module}", *args], cwd=ROOT, env=child_env,
                            capture_output=True, text=True, timeout=timeout)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(result.stdout + "\n--- stderr ---\n" + result.stderr)
    found = [line for line in result.stdout.splitlines() if line.startswith(CHILD_RESULT)]
    if result.returncode != 0 or not found:
        raise RuntimeError(f"benchmarks.{module} {' '.join(args)} failed ({result.returncode}) after "
                           f"{time.monotonic() - started:.0f} s:\n{result.stderr[-4000:]}")
    return json.loads(found[-1][len(CHILD_RESULT):])


def emit_child_result(result: dict) -> None:
    """A child's result on stdout, marked: vLLM and Ray log to stdout too."""
    print(CHILD_RESULT + json.dumps(result), flush=True)


def write_results(path: str | None, results: dict) -> None:
    """`--json PATH`: the numbers run_all.py puts into BENCHMARKS.md."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(results, indent=2, sort_keys=True))
