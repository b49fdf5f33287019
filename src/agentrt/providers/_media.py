"""Images in requests: inline bytes, ``data:`` URLs and remote URLs, in each provider's terms."""

from __future__ import annotations

import base64
import mimetypes

from agentrt.types import ImagePart

__all__ = ["data_url", "guess_media_type", "inline_image"]


def data_url(part: ImagePart) -> str:
    """The image as a URL: its own URL, or a ``data:`` URL built from its bytes."""
    if part.data is not None:
        return f"data:{part.media_type};base64,{base64.b64encode(part.data).decode('ascii')}"
    assert part.url is not None  # ImagePart guarantees one of the two
    return part.url


def inline_image(part: ImagePart) -> tuple[str, str] | None:
    """``(media_type, base64 data)`` for an image given inline (bytes or a ``data:`` URL), else None."""
    if part.data is not None:
        return part.media_type or "application/octet-stream", base64.b64encode(part.data).decode("ascii")
    url = part.url or ""
    if not url.startswith("data:"):
        return None
    header, comma, payload = url[5:].partition(",")
    if not comma:
        return None
    media_type, _, encoding = header.partition(";")
    if encoding != "base64":
        # A percent-encoded data URL: re-encode as base64, the only form the APIs take.
        from urllib.parse import unquote_to_bytes

        payload = base64.b64encode(unquote_to_bytes(payload)).decode("ascii")
    return media_type or part.media_type or "application/octet-stream", payload


def guess_media_type(part: ImagePart) -> str | None:
    """The image's media type: as given, else guessed from the URL's file extension."""
    if part.media_type:
        return part.media_type
    if part.url:
        guessed, _ = mimetypes.guess_type(part.url.split("?", 1)[0])
        return guessed
    return None
