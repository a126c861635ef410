"""A schema that uses every shape the Arrow mapping supports: nested objects,
lists of objects, enums, optional fields and numeric bounds."""

from enum import Enum
from typing import Annotated, Optional

from pydantic import BaseModel, ConfigDict, Field


class Priority(str, Enum):
    low = "low"
    high = "high"


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid")

    street: str = Field(max_length=30)
    postcode: Optional[str] = Field(default=None, max_length=10)


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=30)
    age: int = Field(ge=0, le=120)
    score: float = Field(ge=0.0, le=1.0)
    active: bool
    priority: Priority
    address: Address
    tags: list[Annotated[str, Field(max_length=12)]] = Field(max_length=3)
    phones: Optional[list[Annotated[str, Field(max_length=15)]]] = Field(default=None, max_length=2)
