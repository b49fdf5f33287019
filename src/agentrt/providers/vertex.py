"""The ``vertex`` kind: Gemini on Google Cloud's Vertex AI, authorised by google-auth credentials.

::

    providers:
      vertex:
        kind: vertex
        region: europe-west4                  # the Vertex location (default us-central1; "global" works too)
        options:
          project: my-project                 # else the credentials' project
          credentials_file: /secrets/sa.json  # a service-account key; else Application Default Credentials

Needs the ``vertex`` extra (google-auth), imported only when such a provider
is built. The wire format is Gemini's, spoken by
:class:`~agentrt.providers.google.GoogleClient` (bodies, answers, streams,
errors, thought signatures); only the URL and the credentials differ:
``https://<region>-aiplatform.googleapis.com/v1/projects/<project>/locations/
<region>/publishers/google/models/<model>:generateContent`` (and
``:streamGenerateContent?alt=sse``), with ``Authorization: Bearer <token>``, an
OAuth access token that google-auth obtains from the credentials and that is
refreshed before it expires. ``base_url`` replaces the host (e.g. a private
endpoint, or a test server).

Embeddings on Vertex use another API (``:predict``) and are not supported here:
``embed`` raises ``ProviderBadRequest`` saying so. ``check`` obtains a token,
which proves the credentials without a billed call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote

from agentrt.errors import ConfigError, ConfigProblem, ProviderAuthError, ProviderBadRequest
from agentrt.providers._http import RequestSigner
from agentrt.providers.google import GoogleClient
from agentrt.types import EmbeddingRequest, ProviderEmbeddings

if TYPE_CHECKING:
    from agentrt.config import ProviderSection

__all__ = ["VertexClient"]

_DEFAULT_LOCATION = "us-central1"


class VertexClient(GoogleClient):
    """A client of Gemini models on Vertex AI for one configured provider."""

    kind = "vertex"
    default_base_url = ""  # from the region, below
    option_names = frozenset({"api_version", "drop_params", "project", "credentials_file"})

    def __init__(self, name: str, section: ProviderSection) -> None:
        from agentrt.providers._google_auth import TokenSource, load_credentials

        options = section.options
        location = section.region or _DEFAULT_LOCATION
        credentials_file = options.get("credentials_file")
        try:
            credentials, found_project = load_credentials(str(credentials_file) if credentials_file else None)
        except Exception as err:  # google-auth raises its own errors, ValueError and OSError for a bad file
            what = (
                "cannot be read as service-account credentials"
                if credentials_file
                else "is not set, and no Application Default Credentials were found (run `gcloud auth "
                "application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS)"
            )
            problem = ConfigProblem(
                f"providers.{name}.options.credentials_file", f"{what} ({type(err).__name__}: {err})"
            )
            raise ConfigError([problem]) from None
        project = options.get("project") or found_project
        if not project:
            raise ConfigError(
                [ConfigProblem(f"providers.{name}.options.project", "set the Google Cloud project id of Vertex AI")]
            )
        self._project = str(project)
        self._location = location
        self._tokens = TokenSource(credentials)
        if section.base_url is None:
            host = "aiplatform.googleapis.com" if location == "global" else f"{location}-aiplatform.googleapis.com"
            section = section.model_copy(update={"base_url": f"https://{host}"})
        if "api_version" not in options:  # Vertex's stable API is v1 (Gemini API's default is v1beta)
            section = section.model_copy(update={"options": {**options, "api_version": "v1"}})
        super().__init__(name, section)

    def _auth_headers(self, api_key: str | None) -> Mapping[str, str]:
        return {}  # a fresh bearer token per request (_request_signer)

    def _request_signer(self) -> RequestSigner:
        async def authorize(method: str, url: str, body: bytes) -> Mapping[str, str]:
            return {"authorization": f"Bearer {await self._token()}"}

        return authorize

    async def _token(self) -> str:
        from google.auth import exceptions

        try:
            return await self._tokens.token()
        except exceptions.RefreshError as err:
            raise ProviderAuthError(
                f"{self.name}: Google refused the credentials' token request ({err}); check "
                f"providers.{self.name}.options.credentials_file and the account's Vertex AI permissions",
                provider=self.name,
            ) from None
        except exceptions.TransportError as err:
            raise OSError(str(err)) from None  # the transport maps it: the provider is unreachable

    def _path(self, model: str, method: str) -> str:
        resource = (
            model
            if model.startswith("projects/")
            else (
                f"projects/{quote(self._project, safe='')}/locations/{quote(self._location, safe='')}"
                f"/publishers/google/models/{quote(model.removeprefix('models/'), safe='')}"
            )
        )
        return f"/{self._version}/{resource}:{method}"

    async def embed(self, request: EmbeddingRequest) -> ProviderEmbeddings:
        raise ProviderBadRequest(
            f"{self.name}: model {request.model!r}: embeddings on Vertex AI use its predict API, which this provider "
            "does not speak; use a google (Gemini API) provider for embeddings",
            provider=self.name,
            model=request.model,
        )

    async def check(self) -> str:
        """Obtain an access token: proves the credentials (no model is called, nothing is billed)."""
        await self._token()
        return f"{self._http.display_url}: project {self._project}, location {self._location}, token obtained"

    def __repr__(self) -> str:
        return f"VertexClient(name={self.name!r}, project={self._project!r}, location={self._location!r})"
