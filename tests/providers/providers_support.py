"""What the provider tests share: a tool and a structured-output schema.
(A plain module imported as ``providers_support``: the test folders are not packages.)"""

from __future__ import annotations

from pydantic import BaseModel

from agentrt.types import ToolSpec

WEATHER = ToolSpec(
    name="get_weather",
    description="The weather in a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


class Invoice(BaseModel):
    number: str
    total: float
    paid: bool
