"""The model catalog: which models are configured, what they can do, and what they cost.

::

    catalog = ModelCatalog(config.models, config.providers)
    spec = catalog.resolve("default")                 # by name or alias; UnknownModel otherwise
    check_request(spec, tools=True, input_tokens=estimate_tokens(messages))   # CapabilityError
    catalog.cost(spec, usage)                         # USD, or None when the price is unknown

Modules: ``_spec`` (:class:`ModelSpec`, :class:`Price`), ``_catalog``
(:class:`ModelCatalog`), ``_pricing`` (prices from genai-prices),
``capabilities`` (:func:`check_request`, :func:`estimate_tokens`), ``service``
(the catalog as a runtime service; imported on its own, it needs the container).
"""

from agentrt.models._catalog import ModelCatalog
from agentrt.models._pricing import PriceLookup, default_price_lookup
from agentrt.models._spec import Deployment, ModelSpec, Price, PriceSource, RoutingStrategy
from agentrt.models.capabilities import (
    IMAGE_TOKENS,
    check_request,
    estimate_tokens,
    input_token_bound,
    json_token_bound,
)

__all__ = [
    "IMAGE_TOKENS",
    "Deployment",
    "ModelCatalog",
    "ModelSpec",
    "Price",
    "PriceLookup",
    "PriceSource",
    "RoutingStrategy",
    "check_request",
    "default_price_lookup",
    "estimate_tokens",
    "input_token_bound",
    "json_token_bound",
]
