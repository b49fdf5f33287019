"""What Bedrock refuses: the Converse request as botocore's service model describes it, the rules the
model cannot say, and a SigV4 signature that does not verify.

The body is validated with botocore's own ``ParamValidator`` against the
``bedrock-runtime`` service model (``Converse`` input), unknown fields refused.
Rules beyond the model, from the Converse API reference: the conversation
starts with a user message and the roles alternate; ``toolUse``/``toolResult``
blocks need a ``toolConfig``; every ``toolUse`` is answered by a ``toolResult``
in the next (user) message, and no ``toolResult`` answers a call never made;
with Claude's extended thinking on, the assistant turn of a tool loop starts with
the signed reasoning block the fake issued, unchanged.

The signature is recomputed server-side from the request as received (the raw
path, the query, the signed headers, the body) with the secret of the access
key the ``Credential`` names; an unknown key or a mismatch gets Bedrock's 403.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from agentrt.providers._sigv4 import canonical_request, signature, string_to_sign
from agentrt.testing._reasoning import ReasoningLedger
from agentrt.testing._strict import Invalid

__all__ = ["FAKE_AWS_ACCESS_KEY_ID", "FAKE_AWS_SECRET_ACCESS_KEY", "check_converse", "check_signature"]

FAKE_AWS_ACCESS_KEY_ID = "AKIDFAKEUPSTREAM0001"
FAKE_AWS_SECRET_ACCESS_KEY = "fake/upstream+secret/key0000000000000000"
"""The key pair a FakeUpstream accepts unless given others (``aws_keys=``)."""

_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)
_INVALID_TOKEN = "The security token included in the request is invalid."
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
    "Key and signing method. Consult the service documentation for details."
)


@functools.cache
def _converse_input() -> Any:
    import botocore.session  # type: ignore[import-untyped]

    return botocore.session.get_session().get_service_model("bedrock-runtime").operation_model("Converse").input_shape


def check_converse(body: dict[str, Any], model_id: str, ledger: ReasoningLedger) -> Invalid | None:
    """Why Bedrock would refuse this Converse (or ConverseStream) body; None when it would accept it."""
    from botocore.validate import ParamValidator  # type: ignore[import-untyped]

    report = ParamValidator().validate({"modelId": model_id, **body}, _converse_input())
    if report.has_errors():
        return Invalid("1 validation error detected: " + report.generate_report().replace("\n", "; "))
    return _conversation_problem(body) or _reasoning_problem(body, ledger)


def _reasoning_problem(body: dict[str, Any], ledger: ReasoningLedger) -> Invalid | None:
    """With thinking on, the last assistant turn that calls tools opens with its reasoning, unchanged."""
    thinking = ((body.get("additionalModelRequestFields") or {}).get("thinking") or {}).get("type")
    if thinking not in ("enabled", "adaptive"):
        return None
    turns = [m for m in body["messages"] if m["role"] == "assistant" and any("toolUse" in b for b in m["content"])]
    if not turns:
        return None
    first = turns[-1]["content"][0]
    reasoning = first.get("reasoningContent") if isinstance(first, dict) else None
    if not isinstance(reasoning, dict):
        return Invalid(
            "The model returned the following errors: messages.1.content.0.type: Expected `thinking` or "
            "`redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final `assistant` message "
            "must start with a thinking block."
        )
    text = reasoning.get("reasoningText") or {}
    if "redactedContent" not in reasoning and not ledger.matches(str(text.get("signature")), str(text.get("text"))):
        return Invalid("The model returned the following errors: Invalid `signature` in `thinking` block")
    return None


def _conversation_problem(body: dict[str, Any]) -> Invalid | None:
    messages = body["messages"]
    if not messages:
        return Invalid("The model returned the following errors: messages: at least one message is required")
    if messages[0]["role"] != "user":
        return Invalid(
            "A conversation must start with a user message. Try again with a conversation that starts "
            "with a user message."
        )
    uses_tools = False
    pending: set[str] = set()
    for index, message in enumerate(messages):
        if index and message["role"] == messages[index - 1]["role"]:
            return Invalid(
                "A conversation must alternate between user and assistant roles. Make sure the "
                "conversation alternates between user and assistant roles and try again."
            )
        results = {b["toolResult"]["toolUseId"] for b in message["content"] if "toolResult" in b}
        uses = {b["toolUse"]["toolUseId"] for b in message["content"] if "toolUse" in b}
        uses_tools = uses_tools or bool(results or uses)
        if results - pending or (pending and pending - results):
            return Invalid(
                f"The number of toolResult blocks at messages.{index}.content exceeds the number of toolUse blocks "
                "of previous turn."
                if results - pending
                else f"Expected toolResult blocks at messages.{index}.content for the following Ids: "
                f"{', '.join(sorted(pending - results))}"
            )
        pending = uses
    if uses_tools and not body.get("toolConfig"):
        return Invalid("The toolConfig field must be defined when using toolUse and toolResult content blocks.")
    return None


def check_signature(
    method: str, raw_path: str, headers: Mapping[str, str], all_headers: Any, body: bytes, keys: Mapping[str, str]
) -> tuple[int, str, str] | None:
    """Why AWS would refuse the request's signature: (status, exception name, message); None when it verifies.

    ``raw_path`` is the path and query as received; ``all_headers`` has ``getall`` (repeated headers).
    """
    match = _AUTHORIZATION.match(headers.get("authorization", ""))
    if match is None:
        return 403, "MissingAuthenticationTokenException", "Missing Authentication Token"
    secret = keys.get(match["key"])
    if secret is None:
        return 403, "UnrecognizedClientException", _INVALID_TOKEN
    amz_date = headers.get("x-amz-date", "")
    if amz_date[:8] != match["date"]:
        return 403, "InvalidSignatureException", "Date in Credential scope does not match YYYYMMDD from ISO-8601."
    names = match["signed"].split(";")
    if "host" not in names:
        return 403, "InvalidSignatureException", "'Host' must be a signed header."
    signed = [(name, value) for name in names for value in all_headers.getall(name, [])]
    path, _, query = raw_path.partition("?")
    canonical, _ = canonical_request(method, path, query, signed, hashlib.sha256(body).hexdigest())
    scope = f"{match['date']}/{match['region']}/{match['service']}/aws4_request"
    expected = signature(
        secret, match["date"], match["region"], match["service"], string_to_sign(amz_date, scope, canonical)
    )
    if not hmac.compare_digest(expected, match["signature"]):
        return 403, "InvalidSignatureException", _MISMATCH
    return None
