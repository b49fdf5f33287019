"""The cache key: the same in every process, and blind only to what does not change the answer."""

from __future__ import annotations

import subprocess
import sys

from agentrt.cache import cache_control, cache_key
from agentrt.calls._call import call_settings
from agentrt.calls._messages import to_messages
from agentrt.calls.principal import Principal
from agentrt.config import Config
from agentrt.models import ModelCatalog

SCRIPT = """
from agentrt.cache import cache_key
from agentrt.calls._call import call_settings
from agentrt.calls._messages import to_messages
from agentrt.calls.principal import Principal
from agentrt.config import Config
from agentrt.models import ModelCatalog
config = Config.model_validate({"providers": {"p": {"kind": "local"}}, "models": {"m": {"provider": "p"}}})
spec = ModelCatalog(config.models, config.providers, price_lookup=None).resolve("m")
call = call_settings(Principal("ann", "acme"), "generate", None, None, temperature=0.2,
                     model_params={"seed": 3, "stop": ["x"]})
print(cache_key(spec, to_messages("hello", "be brief"), call, tenant="acme"))
"""


def key(prompt: object = "hello", tenant: str | None = "acme", **params: object) -> str:
    config = Config.model_validate({"providers": {"p": {"kind": "local"}}, "models": {"m": {"provider": "p"}}})
    spec = ModelCatalog(config.models, config.providers, price_lookup=None).resolve("m")
    temperature = params.pop("temperature", 0.2)
    call = call_settings(
        Principal("ann", "acme"),
        "generate",
        None,
        None,
        temperature=temperature,  # type: ignore[arg-type]
        model_params={"seed": 3, "stop": ["x"], **params},
    )
    return cache_key(spec, to_messages(prompt, "be brief"), call, tenant=tenant)  # type: ignore[arg-type]


def test_the_key_is_the_same_in_another_process() -> None:
    other = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == key()
    assert len(key()) == 64


def test_parameter_order_and_labels_do_not_change_the_key() -> None:
    assert key(user="bob", metadata={"a": 1}) == key()
    assert key(top_p=0.5, seed=3) == key(seed=3, top_p=0.5)


def test_what_changes_the_answer_changes_the_key() -> None:
    base = key()
    assert key(temperature=0.3) != base
    assert key(seed=4) != base
    assert key(prompt="hello!") != base
    assert key(tenant="globex") != base
    assert key(tenant=None) != base


def test_images_are_keyed_by_their_bytes() -> None:
    from agentrt.types import ImagePart, TextPart

    one = [TextPart("what is this"), ImagePart(data=b"\x89PNG one", media_type="image/png")]
    two = [TextPart("what is this"), ImagePart(data=b"\x89PNG two", media_type="image/png")]
    assert key(one) == key(list(one))
    assert key(one) != key(two)


def test_cache_control_maps_to_the_calls_cache_flag() -> None:
    assert cache_control(None) is None
    assert cache_control("max-age=0") is None
    assert cache_control("no-cache") == "refresh"
    assert cache_control("No-Store, no-cache") is False
