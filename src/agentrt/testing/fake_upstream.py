"""FakeUpstream: a loopback HTTP server that speaks the OpenAI, Anthropic and Gemini wire formats,
and those of Azure OpenAI, Bedrock Converse (SigV4-checked), Gemini on Vertex AI and Ollama.

Point a provider client (ours, or an official SDK) at it, script what it answers
and which faults it injects, and read back what the client sent::

    async with FakeUpstream() as up:
        up.script(Reply(text="hi"), Fault(status=429, retry_after=1))
        client = AsyncOpenAI(base_url=up.openai_base_url, api_key="k")
        ...
        assert up.requests[0].body["model"] == "gpt-4o-mini"

From synchronous code, ``with FakeUpstream.in_thread() as up:`` serves from its
own event loop in a daemon thread. From a shell,
``python -m agentrt.testing.fake_upstream --port 8089`` serves until SIGTERM or
SIGINT, printing its URL on the first line.

Lifetime: ``start()`` once (a second start, or a start after ``stop()``,
raises :class:`~agentrt.errors.RuntimeStateError`); ``stop()`` is harmless to
repeat; the URLs exist only while it serves.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType

from aiohttp import web

from agentrt.errors import RuntimeStateError
from agentrt.testing._cloud_routes import TOKEN_PATH
from agentrt.testing._recorded import Recorded
from agentrt.testing._script import Fault, RecordedRequest, Reply
from agentrt.testing._server import UpstreamState, build_app
from agentrt.testing._strict_bedrock import FAKE_AWS_ACCESS_KEY_ID, FAKE_AWS_SECRET_ACCESS_KEY

__all__ = ["FAKE_AWS_ACCESS_KEY_ID", "FAKE_AWS_SECRET_ACCESS_KEY", "FakeUpstream", "main"]

# Long enough for a handler to finish writing; short so that stop() never waits on a scripted delay.
_SHUTDOWN_GRACE = 0.5


class FakeUpstream:
    """A fake model provider on loopback, with scripted replies and fault injection.

    ``port=0`` picks a free port. With ``api_key`` set, requests with a missing
    or wrong key get the provider's own 401 error. Embeddings are unit vectors
    of ``embedding_dim`` floats derived from a hash of the text.

    It is strict by default: a request body the real API would refuse (checked
    against the official SDKs' request types, plus the rules they cannot say:
    tool calls answered, strict schemas complete, signed reasoning sent back
    unchanged) gets that API's own 400, and its record says why
    (``RecordedRequest.rejection``). ``lenient=True`` answers such requests
    anyway, for tests that mean to send something odd.

    Bedrock requests must be SigV4-signed by a key of ``aws_keys`` (access key
    id -> secret; default: :data:`FAKE_AWS_ACCESS_KEY_ID` /
    :data:`FAKE_AWS_SECRET_ACCESS_KEY`). Vertex requests need a bearer token
    that :attr:`token_uri` issued to a service account made known with
    :meth:`trust_service_account` (or the ``api_key``).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        embedding_dim: int = 8,
        lenient: bool = False,
        aws_keys: Mapping[str, str] | None = None,
    ) -> None:
        if embedding_dim < 1:
            raise ValueError(f"FakeUpstream(embedding_dim={embedding_dim}): use 1 or more dimensions")
        self._host = host
        self._requested_port = port
        if aws_keys is None:
            aws_keys = {FAKE_AWS_ACCESS_KEY_ID: FAKE_AWS_SECRET_ACCESS_KEY}
        self._state = UpstreamState(api_key=api_key, embedding_dim=embedding_dim, lenient=lenient, aws_keys=aws_keys)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._stopped = False

    # --- lifetime -------------------------------------------------------------

    async def start(self) -> None:
        """Bind and serve. Raises RuntimeStateError if already started or stopped."""
        if self._stopped:
            raise RuntimeStateError("this FakeUpstream was stopped; create a new one to serve again")
        if self._runner is not None:
            raise RuntimeStateError("this FakeUpstream is already serving; start() it only once")
        runner = web.AppRunner(
            build_app(self._state),
            handle_signals=False,
            access_log=None,
            handler_cancellation=True,  # a client that hangs up ends a scripted delay at once
            shutdown_timeout=_SHUTDOWN_GRACE,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._requested_port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving and close every connection. Harmless to call twice."""
        self._stopped = True
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FakeUpstream:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @classmethod
    @contextlib.contextmanager
    def in_thread(
        cls,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        embedding_dim: int = 8,
        lenient: bool = False,
        aws_keys: Mapping[str, str] | None = None,
    ) -> Iterator[FakeUpstream]:
        """Serve from a new event loop in a daemon thread, for synchronous tests and code.

        ``script()``, ``reset()`` and ``requests`` may be used from the calling
        thread while the server runs.
        """
        upstream = cls(
            host=host, port=port, api_key=api_key, embedding_dim=embedding_dim, lenient=lenient, aws_keys=aws_keys
        )
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="agentrt-fake-upstream", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(upstream.start(), loop).result()
            yield upstream
        finally:
            try:
                asyncio.run_coroutine_threadsafe(upstream.stop(), loop).result()
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join()
                loop.close()

    # --- where it serves --------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` while serving."""
        if self._port is None or self._runner is None:
            state = "was stopped" if self._stopped else "is not started: use `async with FakeUpstream()`"
            raise RuntimeStateError(f"this FakeUpstream {state}, so it has no URL")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def openai_base_url(self) -> str:
        """What an OpenAI client's ``base_url`` is: the URL with ``/v1``."""
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """What an Anthropic client's ``base_url`` is (the SDK appends ``/v1/messages``)."""
        return self.url

    @property
    def google_base_url(self) -> str:
        """What a Gemini client's base URL is (the SDK appends ``/v1beta/models/...``)."""
        return self.url

    @property
    def azure_endpoint(self) -> str:
        """What an Azure OpenAI client's endpoint is (``https://NAME.openai.azure.com`` for the real one)."""
        return self.url

    @property
    def bedrock_base_url(self) -> str:
        """What a Bedrock runtime client's endpoint URL is (``/model/{id}/converse`` is appended)."""
        return self.url

    @property
    def vertex_base_url(self) -> str:
        """What a Vertex AI client's endpoint is (``/v1/projects/...`` is appended)."""
        return self.url

    @property
    def ollama_base_url(self) -> str:
        """What an Ollama client's host is (``/api/chat`` is appended)."""
        return self.url

    @property
    def token_uri(self) -> str:
        """The OAuth token endpoint to put in a service account's ``token_uri`` (Vertex)."""
        return self.url + TOKEN_PATH

    def trust_service_account(self, email: str, public_key_pem: bytes) -> None:
        """Issue Vertex tokens to this service account, whose JWTs must verify with this RSA public key."""
        self._state.service_accounts[email] = public_key_pem

    # --- script and record ------------------------------------------------------

    def script(self, *items: Reply | Fault | Recorded, model: str | None = None) -> None:
        """Queue replies, faults and recorded answers, consumed in order one per chat or embedding request.

        With ``model=``, they answer only requests naming that model (Gemini's
        ``models/`` prefix ignored), ahead of the global queue. A ``Fault`` with
        ``times=n`` answers n requests. Thread-safe.
        """
        self._state.script.add(items, model)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order, refused ones included (their ``rejection`` says why)."""
        return self._state.requests

    @property
    def rejected(self) -> list[RecordedRequest]:
        """The requests the fake refused, in order."""
        return [request for request in self._state.requests if request.rejection is not None]

    @property
    def lenient(self) -> bool:
        """Whether request bodies the real API would refuse are answered anyway."""
        return self._state.lenient

    def reset(self) -> None:
        """Forget the scripts, the recorded requests and the signatures issued; restart the id counters."""
        self._state.script.clear()
        self._state.requests.clear()
        self._state.mint.reset()
        self._state.ledger.clear()


# --- python -m agentrt.testing.fake_upstream ---------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a FakeUpstream until SIGTERM or SIGINT; print its URL first."""
    parser = argparse.ArgumentParser(
        prog="python -m agentrt.testing.fake_upstream",
        description="Serve a fake OpenAI / Anthropic / Gemini upstream on loopback until SIGTERM or SIGINT.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default 0)")
    parser.add_argument("--api-key", default=None, help="require this API key (default: accept any)")
    parser.add_argument("--embedding-dim", type=int, default=8, help="floats per embedding (default 8)")
    parser.add_argument(
        "--lenient",
        action="store_true",
        help="answer request bodies the real APIs would refuse with 400 (default: refuse them, as they do)",
    )
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.host, args.port, args.api_key, args.embedding_dim, args.lenient))
    return 0


async def _serve(host: str, port: int, api_key: str | None, embedding_dim: int, lenient: bool = False) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # no signal handlers in Windows loops
            loop.add_signal_handler(signum, stop.set)
    upstream = FakeUpstream(host=host, port=port, api_key=api_key, embedding_dim=embedding_dim, lenient=lenient)
    async with upstream:
        print(upstream.url, flush=True)
        await stop.wait()


if __name__ == "__main__":
    sys.exit(main())
