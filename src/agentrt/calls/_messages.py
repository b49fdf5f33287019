"""Turning what callers pass as a prompt into the messages a provider gets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

from agentrt.types import ContentPart, ImagePart, Message, TextPart

__all__ = ["Prompt", "to_messages"]

Prompt: TypeAlias = str | Message | Sequence[Message] | Sequence[ContentPart]


def to_messages(prompt: Prompt, system: str | None = None) -> list[Message]:
    """A fresh list (the pipeline appends tool turns to it) of the prompt's messages.

    A string, or a list of content parts (text and images), is one user message;
    ``system`` goes first.
    """
    if isinstance(prompt, str):
        messages = [Message("user", prompt)]
    elif isinstance(prompt, Message):
        messages = [prompt]
    else:
        items = list(prompt)
        messages = [item for item in items if isinstance(item, Message)]
        if len(messages) != len(items):
            parts: list[ContentPart] = [item for item in items if isinstance(item, TextPart | ImagePart)]
            if messages or len(parts) != len(items):
                raise TypeError("a prompt is a string, a Message, a list of Messages, or a list of TextPart/ImagePart")
            messages = [Message("user", parts)]
    if system is not None:
        messages.insert(0, Message("system", system))
    if not messages:
        raise ValueError("the prompt is empty: pass a string, a Message or a list of messages")
    return messages
