"""The tag-mask section of BENCHMARKS.md: the two ways of masking K2's tags side by side,
a ratio only over the same answers' tokens, and the per-request copy at K2's vocabulary."""

from benchmarks import report, tag_mask
from benchmarks.workload import summarize


def results(tokens: dict[str, int]) -> dict:
    rates = {"allowed_token_ids": [310.0, 315.0, 322.0], "tag_mask": [335.0, 343.0, 347.0]}
    r = {s: {**summarize(rates[s]), "output_tokens": [tokens[s]] * 3} for s in tag_mask.SETTINGS}
    per_row = {s: (740.0, tokens[s] / 6144) for s in tag_mask.SETTINGS}
    unequal = tag_mask.workload.unequal_work(per_row)
    return {**r, "rows": 6144, "vocab": 522, "masked_ids": 12, "unequal_work": unequal,
            "ratio": None if unequal else 343.0 / 315.0, "vocab_measured": 32_032,
            "copy_ms": {"allowed_token_ids": 4.31, "tag_mask": 0.032}}


def test_the_section_sets_the_two_masks_side_by_side_with_their_ratio_and_the_copy_at_k2s_vocabulary():
    text = "\n".join(tag_mask.render_section(results({"allowed_token_ids": 208_896, "tag_mask": 208_896}), {}))
    assert "| `allowed_token_ids` | 315.0 median of 3" in text and "| logits processor (k2batch) | 343.0 median of 3" in text
    assert "**1.09x**" in text
    assert "the other 510 ids of the model's 522" in text
    assert "At K2's vocabulary of 32,032 ids" in text and "4.31 ms with `allowed_token_ids` and 0.032 ms" in text
    assert "tag_mask" in report.SECTIONS, "make bench renders it"


def test_no_ratio_when_the_two_masks_gave_different_answers():
    r = results({"allowed_token_ids": 208_896, "tag_mask": 190_000})
    text = "\n".join(tag_mask.render_section(r, {}))
    assert r["ratio"] is None and "**No ratio**" in text and "x**" not in text
    assert "no ratio (unequal work)" in tag_mask.summary_line(r)
