"""Model calls: the pipeline every ``generate``, ``stream``, ``generate_object`` and ``embed`` goes through."""

from agentrt.calls._messages import Prompt, to_messages
from agentrt.calls.guards import ProviderGuards
from agentrt.calls.objects import generate_object
from agentrt.calls.pipeline import CallPipeline
from agentrt.calls.policy_hook import Admission, AllowAll, Operation, PolicyHook
from agentrt.calls.principal import ANONYMOUS, Principal, new_request_id, request_id

__all__ = [
    "ANONYMOUS",
    "Admission",
    "AllowAll",
    "CallPipeline",
    "Operation",
    "PolicyHook",
    "Principal",
    "Prompt",
    "ProviderGuards",
    "generate_object",
    "new_request_id",
    "request_id",
    "to_messages",
]
