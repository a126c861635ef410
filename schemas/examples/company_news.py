"""A company-news schema of the shape real extraction jobs use: nested objects, enums,
lists of objects and numeric and length bounds. Its many free-text strings are where a
K2 tag token could slip into a constrained answer (issue 13's test schema)."""

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field


class Person(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=30, description="The person's name as written.")
    role: Literal["ceo", "cfo", "founder", "analyst", "other"] = Field(description="Their role in the story.")


class Amount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: float = Field(ge=0, le=1_000_000, description="The amount, in millions.")
    currency: Literal["USD", "EUR", "GBP", "JPY"]


class CompanyNews(BaseModel):
    """One company-news item."""

    model_config = ConfigDict(extra="forbid")

    company: str = Field(max_length=40, description="The company the item is about.")
    event: Literal["earnings", "merger", "layoffs", "product", "lawsuit", "other"]
    sentiment: Literal["positive", "negative", "neutral"]
    amount: Optional[Amount] = Field(default=None, description="The money involved, if any.")
    people: list[Person] = Field(max_length=2, description="Up to two people named.")
    summary: str = Field(max_length=60, description="The item in a few words.")
