"""Prompt templates: named, sandboxed Jinja2 templates with declared inputs, rendered to messages.

::

    messages = rt.prompt("triage", ticket=text)          # a RenderedPrompt: a list[Message]
    completion = await rt.generate("default", messages)
    for info in rt.prompts.list(): ...                    # name, description, inputs

The ``prompts`` section declares them (see ``agentrt.config._prompts``). Modules:
``library`` (:class:`PromptLibrary`, :class:`RenderedPrompt`), ``_compile`` (checks
at load: syntax, undeclared variables, a file's blocks), ``_sandbox`` (the Jinja2
environment and its bounds), ``_render``, ``service`` (the runtime service; imported
on its own). Importing this package does not import Jinja2: compiling the first
template does.
"""

from agentrt.prompts.library import PromptInfo, PromptInputInfo, PromptLibrary, RenderedPrompt

__all__ = ["PromptInfo", "PromptInputInfo", "PromptLibrary", "RenderedPrompt"]
