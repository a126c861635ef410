"""Record schemas the benchmarks run jobs with (imported by Ray workers through
task.schema_modules, so they live in an importable module)."""

import itertools
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.examples.news import NewsHeadlines

REJECTED_SHARE = 0.3  # EveryThirdRejected: the share of answers its business rule refuses


class ArticleTopic(BaseModel):
    """A label: one word out of five, so generation stays a few tokens long."""

    model_config = ConfigDict(extra="forbid")

    topic: Literal["politics", "business", "science", "sports", "culture"] = Field(description="What the article is about.")


_answers_seen = itertools.count()


class EveryThirdRejected(NewsHeadlines):
    """The demo schema plus a rule constrained decoding cannot express: it refuses exactly
    3 of every 10 answers this process validates, whatever they say (first attempts and
    re-asks alike), so the repair loop's cost is measured at a known failure rate."""

    @model_validator(mode="after")
    def _business_rule(self) -> "EveryThirdRejected":
        seen = next(_answers_seen)
        # Bresenham-style: the k-th answer fails when floor((k+1)·share) steps up, which
        # spreads exactly REJECTED_SHARE of failures evenly over any run of answers.
        if int((seen + 1) * REJECTED_SHARE) > int(seen * REJECTED_SHARE):
            raise ValueError(f"answer {seen} refused by the benchmark's business rule ({REJECTED_SHARE:.0%} of answers)")
        return self
