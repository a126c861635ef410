"""Train the tiny K2-layout model on the demo job's own task, so its records are right.

Training examples are built exactly as the pipeline builds prompts: the demo job's
system prompt (its tool and schema through render_system_prompt), its user prompt,
rendered by operators/render_prompt.py and primed with `<tool_call>`. The target is what
the constrained decoder writes after that prime: the compact call JSON (no whitespace,
keys in schema order), then `</tool_call></s>`; loss is on those answer tokens only.
Articles come from examples/news_sample.py's "train" split, so held-out gold sets and
the demo data are never training items.

The recipe and the measurements that chose it: docs/demo-model.md.
"""

import json
import random
import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from examples.news_sample import articles, expected_record
from jobs.plan.resolve import system_prompt_for
from jobs.spec import JobSpec, load_job
from operators import k2_format as k2
from operators.prepare_prompts import first_attempt_prime
from operators.render_prompt import Piece, Turn, render, to_text, to_token_ids
from schemas.record_schema import load_record_schema

DEMO_JOB = Path(__file__).resolve().parents[1] / "examples" / "news_extract.yaml"
REPORT_FILE = "training.json"


@dataclass(frozen=True)
class Recipe:
    steps: int = 2000
    batch_size: int = 16
    peak_lr: float = 4e-3
    invented_share: float = 0.5  # items datelined from made-up places (news_sample.with_invented_place)
    weight_decay: float = 0.01
    vocab_size: int = 1500
    tokenizer_examples: int = 1000  # rendered examples the BPE merges are learned from
    seed: int = 0


@dataclass
class TrainingReport:
    recipe: dict
    losses: list[float]
    wall_seconds: float
    peak_memory_mib: float
    threads: int
    prompt_tokens: int  # of the first example: the system prompt dominates it
    answer_tokens_mean: float
    examples: int
    sample: dict = field(default_factory=dict)  # one example's user text and target, for the curious


class DemoTask:
    """The demo job's prompt and answer format, built with the project's own renderer."""

    def __init__(self, spec: JobSpec):
        record_schema = load_record_schema(spec.task.schema_, allowed_modules=tuple(spec.task.schema_modules))
        self.spec = spec
        self.record_schema = record_schema
        # The system prompt as resolve_job composes it; resolve_job itself needs the model and
        # the input to exist, and training happens before either does.
        self.system_prompt = system_prompt_for(spec, record_schema)
        self.prime = first_attempt_prime(spec.task.prime_tool_call)

    def prompt(self, item: dict) -> list[Piece]:
        user_text = self.spec.task.prompt.format(**{c: item[c] for c in self.spec.task.prompt_columns})
        return render(self.system_prompt, [Turn("user", user_text)], prime=self.prime)

    def shared_prefix(self) -> list[Piece]:
        """The pieces every prompt starts with: the system prompt up to the user's text."""
        return render(self.system_prompt, [Turn("user", "")])[:3]

    def answer(self, item: dict) -> list[Piece]:
        """The call JSON as the constrained decoder writes it, then the tags that close the turn."""
        record, errors = self.record_schema.validate(expected_record(item))
        if errors:
            raise ValueError(f"the generator made an invalid record: {errors}")
        call = {"name": self.spec.task.tool_name, "arguments": record}
        close = (k2.TOOL_CALL_CLOSE if self.prime == k2.TOOL_CALL_OPEN else "") + k2.EOS
        return [Piece(json.dumps(call, ensure_ascii=False, separators=(",", ":")), False), Piece(close, True)]


def train_test_model(path: str | Path, *, recipe: Recipe = Recipe(), job: str | Path = DEMO_JOB,
                     log=print) -> TrainingReport:
    """Train and write config, weights, tokenizer and `training.json` to `path`.

    The same recipe gives the same weights: one thread, deterministic algorithms, every
    random source seeded.
    """
    import torch

    deterministic, threads_before = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    try:
        return _train(Path(path), recipe, job, log)
    finally:  # process-wide settings: give the caller (a test session, a notebook) its own back
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads_before)


def _train(path: Path, recipe: Recipe, job: str | Path, log) -> TrainingReport:
    import numpy as np
    import torch
    from transformers import LlamaForCausalLM

    from jobs.devtools.testmodel import build_tokenizer, tiny_llama_config

    started = time.monotonic()
    random.seed(recipe.seed)
    np.random.seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    torch.use_deterministic_algorithms(True)
    # One thread: the same weights on any machine (thread count changes the order of float
    # sums), and no OpenMP spin-waiting on a busy machine, where 2 threads on 2 shared
    # cores ran 6x slower than 1 (measured).
    threads = 1
    torch.set_num_threads(threads)

    task = DemoTask(load_job(job))
    items = articles(recipe.steps * recipe.batch_size, seed=recipe.seed, split="train", invented_share=recipe.invented_share)
    corpus = [to_text(task.prompt(item) + task.answer(item)) for item in items[: recipe.tokenizer_examples]]
    tokenizer = build_tokenizer(recipe.vocab_size, corpus=corpus, copy_friendly=True)
    prefix = to_token_ids(task.shared_prefix(), tokenizer)
    examples = [_encode(task, item, tokenizer) for item in items]
    if any(ids[: len(prefix)] != prefix for ids, _ in examples):
        raise RuntimeError("a prompt does not start with the shared system prompt: the prefix shortcut would be wrong")

    model = LlamaForCausalLM(tiny_llama_config(tokenizer))
    model.config._attn_implementation = "sdpa"
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.peak_lr, weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.peak_lr, total_steps=recipe.steps)
    losses = []
    for step in range(recipe.steps):
        loss = _loss(model, prefix, examples[step * recipe.batch_size:(step + 1) * recipe.batch_size], torch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(round(loss.item(), 6))
        if log and (step + 1) % 50 == 0:
            log(f"step {step + 1}/{recipe.steps}: loss {losses[-1]:.4f} ({time.monotonic() - started:.0f} s)")

    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    report = TrainingReport(
        recipe=asdict(recipe), losses=losses, wall_seconds=round(time.monotonic() - started, 1),
        peak_memory_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), threads=threads,
        prompt_tokens=len(examples[0][0]), answer_tokens_mean=round(float(np.mean([len(a) for _, a in examples])), 1),
        examples=len(examples),
        sample={"prompt_end": to_text(task.prompt(items[0]))[-200:], "target": to_text(task.answer(items[0]))},
    )
    (path / REPORT_FILE).write_text(json.dumps(asdict(report), indent=2))
    return report


def _encode(task: DemoTask, item: dict, tokenizer) -> tuple[list[int], list[int]]:
    return to_token_ids(task.prompt(item), tokenizer), to_token_ids(task.answer(item), tokenizer)


def _loss(model, prefix: list[int], examples: list[tuple[list[int], list[int]]], torch):
    """Mean loss over the answer tokens of a batch.

    Every prompt opens with the same ~700-token system prompt, so it is run once and its
    keys and values repeated over the batch (gradients flow back through the repeat):
    the same loss and gradients as running each full sequence, ~5x fewer FLOPs.
    """
    shared = model(input_ids=torch.tensor([prefix]), use_cache=True).past_key_values
    shared.batch_repeat_interleave(len(examples))
    batch = _collate([(ids[len(prefix):], answer) for ids, answer in examples], torch)
    batch["attention_mask"] = torch.cat(
        [torch.ones(len(examples), len(prefix), dtype=batch["attention_mask"].dtype), batch["attention_mask"]], dim=1
    )
    return model(**batch, past_key_values=shared).loss


def _collate(examples: list[tuple[list[int], list[int]]], torch) -> dict:
    """Right-padded ids with labels only on the answer tokens (-100 elsewhere)."""
    width = max(len(p) + len(a) for p, a in examples)
    input_ids, labels, mask = [], [], []
    for prompt, answer in examples:
        pad = width - len(prompt) - len(answer)
        input_ids.append(prompt + answer + [0] * pad)
        labels.append([-100] * len(prompt) + answer + [-100] * pad)
        mask.append([1] * (len(prompt) + len(answer)) + [0] * pad)
    return {"input_ids": torch.tensor(input_ids), "labels": torch.tensor(labels), "attention_mask": torch.tensor(mask)}
