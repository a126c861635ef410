"""The demo extraction schema: headlines and the place a news article is about.

Every string and list is bounded: bounds keep constrained answers short, so an
answer is rarely cut off by `max_tokens` (see ../shared/dev-environment.md).
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Headline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(max_length=80, description="The headline as written.")
    topic: Literal["politics", "business", "science", "sports", "culture"] = Field(
        description="What the headline is about."
    )


class NewsHeadlines(BaseModel):
    """Headlines found in a news article and the place it reports from."""

    model_config = ConfigDict(extra="forbid")

    city: str = Field(max_length=40, description="The city the article reports from.")
    country: str = Field(max_length=40, description="The country of that city.")
    headlines: list[Headline] = Field(max_length=3, description="Up to three headlines.")
