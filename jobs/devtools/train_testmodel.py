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
import os
import random
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from examples.news_sample import articles, expected_record
from jobs.plan.prompt_room import system_prompt_for
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
    invented_share: float = 0.25  # items datelined from made-up places (news_sample.with_invented_place)
    mismatched_share: float = 0.5  # items datelined from a real city in another real country (with_mismatched_place)
    weight_decay: float = 0.01
    vocab_size: int = 1500
    layers: int = 2
    tokenizer_examples: int = 1000  # rendered examples the BPE merges are learned from
    seed: int = 0


@dataclass
class TrainingReport:
    recipe: dict
    losses: list[float]
    wall_seconds: float
    cpu_seconds: float  # what the recipe costs whatever else the machine runs
    peak_memory_mib: float
    threads: int
    kernels: str  # the CPU kernels torch ran (PINNED_KERNELS)
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


# PyTorch's and MKL's AVX2 kernels on every x86-64 CPU that has AVX2: an AVX-512 machine
# would otherwise take other kernels, whose float sums round differently, and after 2,000
# steps the weights (and a few of the demo's records) differ from one machine to another.
# With the kernels pinned, the thread count does not change the weights either (measured).
PINNED_KERNELS = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def train_test_model(path: str | Path, *, recipe: Recipe = Recipe(), job: str | Path = DEMO_JOB,
                     progress: bool = False) -> TrainingReport:
    """Train and write config, weights, tokenizer and `training.json` to `path`.

    The same recipe gives the same weights: pinned kernels, one thread, deterministic
    algorithms, every random source seeded. Training runs in a fresh Python process,
    because the kernel pins take effect only when torch is first imported, and the caller
    (a test session, a notebook) may have imported it already. `progress`: a bar on stderr.
    """
    path = Path(path)
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, **PINNED_KERNELS, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "jobs.devtools.train_testmodel", str(path), json.dumps(asdict(recipe)), str(job)]
    subprocess.run([*command, *(["--progress"] if progress else [])], env=env, check=True)
    return TrainingReport(**json.loads((path / REPORT_FILE).read_text()))


def _train(path: Path, recipe: Recipe, job: str, progress: bool) -> TrainingReport:
    import numpy as np
    import torch
    from tqdm import tqdm
    from transformers import LlamaForCausalLM

    from jobs.devtools.testmodel import build_tokenizer, tiny_llama_config

    started, cpu_started = time.monotonic(), time.process_time()
    random.seed(recipe.seed)
    np.random.seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    torch.use_deterministic_algorithms(True)
    # One thread: no OpenMP spin-waiting on a busy machine, where 2 threads on 2 shared
    # cores ran 6x slower than 1 (measured).
    threads = 1
    torch.set_num_threads(threads)

    task = DemoTask(load_job(job))
    items = articles(recipe.steps * recipe.batch_size, seed=recipe.seed, split="train",
                     invented_share=recipe.invented_share, mismatched_share=recipe.mismatched_share)
    corpus = [to_text(task.prompt(item) + task.answer(item)) for item in items[: recipe.tokenizer_examples]]
    tokenizer = build_tokenizer(recipe.vocab_size, corpus=corpus, copy_friendly=True)
    prefix = to_token_ids(task.shared_prefix(), tokenizer)
    examples = [_encode(task, item, tokenizer) for item in items]
    if any(ids[: len(prefix)] != prefix for ids, _ in examples):
        raise RuntimeError("a prompt does not start with the shared system prompt: the prefix shortcut would be wrong")

    model = LlamaForCausalLM(tiny_llama_config(tokenizer, recipe.layers))
    _initialize(model, recipe.seed, torch)
    model.config._attn_implementation = "sdpa"
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.peak_lr, weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.peak_lr, total_steps=recipe.steps)
    losses = []
    bar = tqdm(total=recipe.steps, desc="training the demo model", unit="step", disable=not progress,
               mininterval=1.0 if sys.stderr.isatty() else 30.0)
    for step in range(recipe.steps):
        loss = _loss(model, prefix, examples[step * recipe.batch_size:(step + 1) * recipe.batch_size], torch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(round(loss.item(), 6))
        bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
        bar.update()
    bar.close()

    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    report = TrainingReport(
        recipe=asdict(recipe), losses=losses, wall_seconds=round(time.monotonic() - started, 1),
        cpu_seconds=round(time.process_time() - cpu_started, 1),
        peak_memory_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), threads=threads,
        kernels=f"{torch.backends.cpu.get_cpu_capability()} ({', '.join(f'{k}={v}' for k, v in PINNED_KERNELS.items())})",
        prompt_tokens=len(examples[0][0]), answer_tokens_mean=round(float(np.mean([len(a) for _, a in examples])), 1),
        examples=len(examples),
        sample={"prompt_end": to_text(task.prompt(items[0]))[-200:], "target": to_text(task.answer(items[0]))},
    )
    (path / REPORT_FILE).write_text(json.dumps(asdict(report), indent=2))
    return report


def _initialize(model, seed: int, torch) -> None:
    """Llama's usual initial weights (normal with std 0.02, norms at 1, the pad row at 0)
    drawn here from one seeded generator in parameter order, so that the trained weights
    do not depend on how a transformers release happens to initialize them."""
    generator = torch.Generator().manual_seed(seed)
    std = model.config.initializer_range
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("norm.weight"):
                parameter.fill_(1.0)
            else:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)
        model.get_input_embeddings().weight[model.config.pad_token_id].zero_()


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


if __name__ == "__main__":  # the training process train_test_model starts
    _train(Path(sys.argv[1]), Recipe(**json.loads(sys.argv[2])), sys.argv[3], "--progress" in sys.argv[4:])
