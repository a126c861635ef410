"""Write a tiny random-weight model in K2-Chat's layout, for tests and the demo.

A Llama with 4 heads of dim 32 (vLLM's CPU attention takes 32, not 16), a byte-level BPE
tokenizer whose added special tokens are K2's tags by name, EOS `</s>` at id 2,
pad at id 0 and no BOS, as in K2's config. Its answers are random: constrained
decoding makes them schema-valid, never meaningful. `jobs/train_testmodel.py` trains
the same architecture on the demo task, so its answers are right.
"""

import json
import random
from pathlib import Path

from operators import k2_format as k2

BASE_TOKENS = ["<unk>", "<s>", "</s>"]  # ids 0, 1, 2 as in K2


def _corpus(seed: int) -> list[str]:
    """Text the tokenizer's merges are learned from: K2's prompt and JSON answers."""
    rng = random.Random(seed)
    words = (
        "the of and to in a is that for on with as by at from news city country headline article "
        "politics business science sports culture record extract summary label positive negative "
        "neutral name arguments title topic description parameters properties type string object "
        "array integer number boolean required items enum maxLength maxItems"
    ).split()
    lines = [k2.FUNCTION_CALLING_V1]
    for _ in range(400):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(3, 20)))
        lines.append(text)
        lines.append(json.dumps({"name": "record", "arguments": {"title": text[:40], "n": rng.randint(0, 999)}}))
    return lines


# Pieces BPE may merge within, for a model that learns to copy: a JSON key with its
# colon and opening quote (`"city":"`), a word, a number, one whitespace character, a
# quote, or other punctuation.
COPY_FRIENDLY_PIECES = r'"[A-Za-z_]+":"?|\p{L}+|\p{N}+|\s|"|[^\s\p{L}\p{N}"]+'


def build_tokenizer(vocab_size: int = 512, seed: int = 0, corpus: list[str] | None = None,
                    copy_friendly: bool = False):
    """Byte-level BPE learned from `corpus` (default: a random K2-ish corpus), then K2's tags.

    `copy_friendly` pre-splits text into COPY_FRIENDLY_PIECES, for the trained demo model:
    a word is the same token in " Lyon," and in `"city":"Lyon"` (GPT-2-style pieces
    make it " Lyon" in one and "Lyon" in the other), and the token before a value names
    its key, so one attention layer can find the word to copy.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    if copy_friendly:
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(COPY_FRIENDLY_PIECES), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=BASE_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus if corpus is not None else _corpus(seed), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", eos_token=k2.EOS, pad_token="<unk>", bos_token="<s>"
    )
    fast.add_special_tokens({"additional_special_tokens": list(k2.SPECIAL_TAGS)})
    return fast


def write_test_model(path: str | Path, *, seed: int = 0) -> Path:
    """Write config, random weights and tokenizer to `path`; the same seed gives the same files."""
    import torch
    from transformers import LlamaForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(seed=seed)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(tiny_llama_config(tokenizer))
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


def tiny_llama_config(tokenizer, layers: int = 2):
    """K2's layout at toy size: no BOS, EOS `</s>`, pad 0, untied embeddings. Four heads of
    dim 32 rather than two of 64: with two, the trained demo model never learned to copy
    the city (1 of 40 held-out items right, against 38 of 40 with four)."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=8192,
        rope_theta=500000.0,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=0,
        tie_word_embeddings=False,
        torch_dtype="float32",
    )
