"""What each generation may emit and what ends it: the sampling arguments of every mode.

K2's tags (`<|beginofuser|>`, `<tool_call>`, ...) are added tokens whose text is
printable, so a JSON grammar admits them inside a string. A model that samples one
writes a control tag into a record (which the summary turn and every re-ask would feed
back as a real turn boundary), and a stop string on it cuts the answer mid-JSON. The
guarantee has to come from the decoder: every generation names the ids it may never
sample (the tags, BOS, unk, pad and the embedding's rows past the tokenizer) in
`extra_args[MASKED_IDS_ARG]`, and the engine's logits processor (operators/tag_mask.py)
sets them to -inf before sampling, greedy or not, so no masked id can ever be chosen.
The other means are weaker or dearer: `logit_bias` is clamped to [-100, 100]
(improbable, not impossible), `bad_words` is matched in Python for every request at
every step, and `allowed_token_ids` lists every other id of the vocabulary in each
request (32,000 ids for K2, copied and checked per request).

A constrained answer keeps EOS, which xgrammar admits only where the JSON ends, and has
no stop strings: it ends at the grammar's end or at `max_tokens` (then `truncated`),
nothing else. A free-text summary keeps the tokens that end a turn (EOS and
`SUMMARY_ENDS`) and loses every other tag.

No generation is detokenized by vLLM (`detokenize=False`): its detokenizer decodes every
request at every step, and with log-probabilities every logged token again, in the
engine actor's process beside the engine. With no stop strings nothing needs the text
before the answer ends, so `output_text` decodes each finished answer once.
"""

from typing import Any

from operators import k2_format as k2

# Besides EOS, the tags that end a summary: a model that opens a new turn has finished.
SUMMARY_ENDS = k2.SAFETY_STOPS
# Tokens a Llama tokenizer has besides K2's tags: never part of an answer.
BOS, UNK = "<s>", "<unk>"
# The SamplingParams.extra_args key of the ids a generation may not sample (operators/tag_mask.py).
MASKED_IDS_ARG = "k2batch_masked_ids"
# The logits processor that applies it, by the name the engine loads it with (its `logits_processors`).
TAG_MASK_PROCESSOR = "operators.tag_mask:TagMask"


def masked_token_ids(tokenizer) -> set[int]:
    """Every K2 tag, BOS, unk and pad that this tokenizer has; never EOS."""
    vocab = tokenizer.get_vocab()
    ids = {vocab[name] for name in (*k2.SPECIAL_TAGS, BOS, UNK) if name in vocab}
    ids |= {i for i in (tokenizer.bos_token_id, tokenizer.unk_token_id, tokenizer.pad_token_id) if i is not None}
    ids.discard(tokenizer.eos_token_id)
    return ids


def never_sampled(tokenizer, vocab_size: int, *, keep: tuple[str, ...] = ()) -> list[int]:
    """The ids of the model's `vocab_size` a generation may not sample: `masked_token_ids`
    except the tags in `keep`, and the rows of the embedding past the tokenizer (padding,
    no text)."""
    masked = masked_token_ids(tokenizer) - {tokenizer.convert_tokens_to_ids(tag) for tag in keep}
    return sorted(i for i in masked | set(range(len(tokenizer), vocab_size)) if i < vocab_size)


def answer_sampling(tokenizer, vocab_size: int, *, max_tokens: int, temperature: float, seed: int,
                    constraint: dict[str, Any]) -> dict[str, Any]:
    """SamplingParams fields of a constrained tool-call answer (extraction, label, every re-ask)."""
    return dict(
        max_tokens=max_tokens, temperature=temperature, seed=seed,
        extra_args={MASKED_IDS_ARG: never_sampled(tokenizer, vocab_size)},
        skip_special_tokens=False,  # EOS aside nothing special can be sampled; keep the text as generated
        structured_outputs={"json": constraint},
    )


def summary_sampling(tokenizer, vocab_size: int, *, max_tokens: int, temperature: float, seed: int) -> dict[str, Any]:
    """SamplingParams fields of the free-text summary turn."""
    return dict(
        max_tokens=max_tokens, temperature=temperature, seed=seed,
        extra_args={MASKED_IDS_ARG: never_sampled(tokenizer, vocab_size, keep=SUMMARY_ENDS)},
        stop_token_ids=[tokenizer.convert_tokens_to_ids(tag) for tag in SUMMARY_ENDS],
        skip_special_tokens=True,  # the ending token is not part of the summary
    )


# vllm.sampling_params.MAX_LOGPROB_TOKEN_IDS: the most tokens one request may ask log-probabilities of.
MAX_ASKED_TOKENS = 128


def next_token_params(token_ids: list[int]):
    """SamplingParams of one greedy step that reports the log-probabilities of `token_ids`
    as the next token (label scoring, operators/label_scoring.py): no grammar and no tag
    mask, so they are the model's own; nothing is detokenized."""
    return sampling_params(dict(max_tokens=1, temperature=0.0, logprob_token_ids=list(token_ids), detokenize=False))


def sampling_params(fields: dict[str, Any]):
    """vllm.SamplingParams from these fields, with the offline engine's output kind and
    no detokenizing (`output_text` decodes the answer)."""
    from vllm.sampling_params import RequestOutputKind, SamplingParams, StructuredOutputsParams

    fields = dict(fields)
    if "structured_outputs" in fields:
        fields["structured_outputs"] = StructuredOutputsParams(**fields["structured_outputs"])
    # FINAL_ONLY: a row waits for its whole answer, so the engine need not build and
    # queue a partial output for every request at every step (what vllm.LLM does too).
    return SamplingParams(**{"detokenize": False, **fields}, output_kind=RequestOutputKind.FINAL_ONLY)


def output_text(tokenizer, output, params) -> str:
    """A finished generation's text, as vLLM's detokenizer would give it: its tokens less
    the one that stopped it (EOS or a stop token id: there are no stop strings), decoded
    once with the request's `skip_special_tokens`."""
    token_ids = list(output.token_ids)
    if output.finish_reason == "stop" and token_ids:
        token_ids.pop()
    return tokenizer.decode(token_ids, skip_special_tokens=params.skip_special_tokens)


def attempt_end(output) -> str:
    """Why one generation ended, as a reject's `error` shows it: vLLM's finish_reason and
    stop_reason (the stop token id; none when EOS ended it) and the answer's length."""
    if output.finish_reason == "stop" and output.stop_reason is None:
        why = "finish_reason=stop (eos)"
    elif output.stop_reason is not None:
        why = f"finish_reason={output.finish_reason} stop_reason={output.stop_reason!r}"
    else:
        why = f"finish_reason={output.finish_reason}"
    return f"{why} after {len(output.token_ids)} tokens"
