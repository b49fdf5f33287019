"""The Azure OpenAI, Bedrock, Vertex AI and Ollama formats of FakeUpstream, judged by the official SDKs as
clients: openai's AzureOpenAI, boto3's bedrock-runtime (which signs with botocore's SigV4 and parses our event
streams), google-genai in Vertex mode with service-account credentials, and the ollama client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import openai
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from agentrt.testing import FakeUpstream, Fault, Reply
from agentrt.testing.fake_upstream import FAKE_AWS_ACCESS_KEY_ID, FAKE_AWS_SECRET_ACCESS_KEY

AZURE_KEY = "azure-key-for-the-sdk-0123"
MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
TOOL = {"toolSpec": {"name": "get_weather", "description": "weather", "inputSchema": {"json": {"type": "object"}}}}


def bedrock(up: FakeUpstream, secret: str = FAKE_AWS_SECRET_ACCESS_KEY, **config: Any) -> Any:
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=up.bedrock_base_url,
        aws_access_key_id=FAKE_AWS_ACCESS_KEY_ID,
        aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1}, **config),
    )


def test_boto3_converse_and_converse_stream() -> None:
    with FakeUpstream.in_thread() as up:
        up.script(Reply(text="hello from the fake", usage=(9, 4)))
        answer = bedrock(up).converse(
            modelId=MODEL_ID, messages=[{"role": "user", "content": [{"text": "hi"}]}], inferenceConfig={"maxTokens": 9}
        )
        assert answer["output"]["message"]["content"] == [{"text": "hello from the fake"}]
        assert answer["stopReason"] == "end_turn"
        assert answer["usage"] == {"inputTokens": 9, "outputTokens": 4, "totalTokens": 13}
        up.script(Reply(tool_calls=[("get_weather", {"city": "Paris"})], chunk_size=5))
        stream = bedrock(up).converse_stream(
            modelId=MODEL_ID, messages=[{"role": "user", "content": [{"text": "hi"}]}], toolConfig={"tools": [TOOL]}
        )
        events = list(stream["stream"])
        assert [next(iter(e)) for e in events][:2] == ["messageStart", "contentBlockStart"]
        fragments = "".join(
            e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e
        )
        assert json.loads(fragments) == {"city": "Paris"}
        assert events[-2] == {"messageStop": {"stopReason": "tool_use"}}
        assert up.rejected == []


def test_boto3_sees_bedrock_errors() -> None:
    with FakeUpstream.in_thread() as up:
        up.script(Fault(status=429, message="Too many requests"))
        with pytest.raises(ClientError) as throttled:
            bedrock(up).converse(modelId=MODEL_ID, messages=[{"role": "user", "content": [{"text": "hi"}]}])
        assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
        with pytest.raises(ClientError) as bad_signature:
            bedrock(up, secret="not-the-secret").converse(
                modelId=MODEL_ID, messages=[{"role": "user", "content": [{"text": "hi"}]}]
            )
        assert bad_signature.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_the_fake_refuses_what_botocores_model_refuses() -> None:
    with FakeUpstream.in_thread() as up:
        # Client-side validation off, so the invalid body reaches the fake.
        client = bedrock(up, parameter_validation=False)
        with pytest.raises(ClientError) as invalid:
            client.converse(modelId=MODEL_ID, messages=[{"role": "user", "content": [{"text": 3}]}])
        assert invalid.value.response["Error"]["Code"] == "ValidationException"
        assert "messages[0].content[0].text" in invalid.value.response["Error"]["Message"]
        with pytest.raises(ClientError, match="alternate"):
            client.converse(
                modelId=MODEL_ID,
                messages=[{"role": "user", "content": [{"text": "a"}]}, {"role": "user", "content": [{"text": "b"}]}],
            )
        use = {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {}}}
        with pytest.raises(ClientError, match="toolConfig"):
            client.converse(
                modelId=MODEL_ID,
                messages=[
                    {"role": "user", "content": [{"text": "a"}]},
                    {"role": "assistant", "content": [use]},
                    {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "ok"}]}}]},
                ],
            )
        assert len(up.rejected) == 3


async def test_azure_openai_sdk_plain_and_stream() -> None:
    async with FakeUpstream(api_key=AZURE_KEY) as up:
        client = openai.AsyncAzureOpenAI(
            azure_endpoint=up.azure_endpoint, api_key=AZURE_KEY, api_version="2024-10-21", max_retries=0
        )
        up.script(Reply(text="azure says hi"), Reply(text="streamed", chunk_size=3))
        answer = await client.chat.completions.create(
            model="my-deployment", messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.choices[0].message.content == "azure says hi"
        stream = await client.chat.completions.create(
            model="my-deployment", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
        assert text == "streamed"
        assert up.requests[0].path == "/openai/deployments/my-deployment/chat/completions"
        assert up.requests[0].query["api-version"] == "2024-10-21"
        wrong = openai.AsyncAzureOpenAI(
            azure_endpoint=up.azure_endpoint, api_key="wrong", api_version="2024-10-21", max_retries=0
        )
        with pytest.raises(openai.AuthenticationError):
            await wrong.chat.completions.create(model="d", messages=[{"role": "user", "content": "hi"}])
        await client.close()
        await wrong.close()


@pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
async def test_google_genai_in_vertex_mode(tmp_path: Path) -> None:
    import sys

    from google import genai
    from google.genai import types
    from google.oauth2 import service_account as sa

    sys.path.insert(0, str(Path(__file__).parent.parent / "providers"))
    from providers_cloud_support import service_account

    async with FakeUpstream() as up:
        path = service_account(up, tmp_path)
        credentials = sa.Credentials.from_service_account_file(
            str(path), scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
        options = types.HttpOptions(base_url=up.vertex_base_url, retry_options=types.HttpRetryOptions(attempts=1))
        client = genai.Client(
            vertexai=True, project="test-project", location="us-central1", credentials=credentials, http_options=options
        )
        up.script(Reply(text="vertex via the sdk"))
        answer = await client.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
        assert answer.text == "vertex via the sdk"
        (request,) = up.requests
        assert request.rejection is None
        assert "/projects/test-project/locations/us-central1/publishers/google/models/gemini-2.5-flash" in request.path
        assert request.headers["authorization"].startswith("Bearer ya29.fake-")


async def test_ollama_client_chat_stream_tools_and_embed() -> None:
    import ollama

    async with FakeUpstream() as up:
        client = ollama.AsyncClient(host=up.ollama_base_url)
        up.script(
            Reply(text="llama says hi", usage=(11, 3)),
            Reply(text="streamed", chunk_size=3),
            Reply(tool_calls=[("get_weather", {"city": "Tartu"})]),
        )
        answer = await client.chat(model="llama3.2", messages=[{"role": "user", "content": "hi"}])
        assert answer.message.content == "llama says hi"
        assert (answer.prompt_eval_count, answer.eval_count) == (11, 3)
        parts = [part async for part in await client.chat(model="llama3.2", messages=[], stream=True)]
        assert "".join(part.message.content or "" for part in parts) == "streamed"
        assert parts[-1].done
        tool = {"type": "function", "function": {"name": "get_weather", "description": "w", "parameters": {}}}
        called = await client.chat(model="qwen3", messages=[{"role": "user", "content": "w?"}], tools=[tool])
        (call,) = called.message.tool_calls or []
        assert (call.function.name, dict(call.function.arguments)) == ("get_weather", {"city": "Tartu"})
        vectors = await client.embed(model="nomic-embed-text", input=["a", "b"])
        assert len(vectors.embeddings) == 2
        assert up.rejected == []
        with pytest.raises(ollama.ResponseError) as refused:
            await client.chat(model="llama3.2", messages=[], options={"max_tokens": 5})  # type: ignore[arg-type]
        assert "unknown field" in str(refused.value)
