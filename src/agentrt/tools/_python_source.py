"""A ``python:`` toolkit: the ``@tool`` functions of a module, or one ``module:function``.

The reference names a file (``tools/support.py``, relative to the config's
folder) or a module on the Python path (``myapp.tools``; the config's folder is
on it while a runtime runs, as for agent classes), optionally followed by
``:function``. A file runs again when it changed since it last ran, so a
reload sees its new code; a module is imported once, as Python does.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from agentrt.config._tools import is_python_file
from agentrt.errors import ToolError
from agentrt.tools._function_source import FunctionSource
from agentrt.tools._tool import Tool

__all__ = ["load_python_tools", "python_source"]

# Files are loaded as modules under this prefix, so that they never shadow an installed module.
_FILE_MODULE_PREFIX = "agentrt_toolkit_"
# The file's modification time and size when it ran: a file that changed since runs again.
_STAMP_ATTR = "__agentrt_stamp__"


def python_source(toolkit: str, reference: str, base_dir: Path) -> FunctionSource:
    """The toolkit's source; :class:`ToolError` saying what to fix when the module cannot give tools."""
    tools = load_python_tools(toolkit, reference, base_dir)
    return FunctionSource(toolkit, tools, kind="python", origin=reference)


def load_python_tools(toolkit: str, reference: str, base_dir: Path) -> list[Tool[..., Any]]:
    """The tools ``reference`` names: every module-level :class:`Tool` of the module, or the one function."""
    module_ref, _, function = reference.partition(":")
    module = _load_module(toolkit, module_ref, base_dir)
    if function:
        return [_one_tool(toolkit, reference, module, function)]
    found: dict[int, Tool[..., Any]] = {}
    for value in vars(module).values():
        if isinstance(value, Tool):
            found.setdefault(id(value), value)
    if not found:
        raise ToolError(
            f"toolkit {toolkit!r}: {module_ref} has no tools: decorate its functions with "
            "@agentrt.tools.tool, or name one function as module:function"
        )
    return list(found.values())


def _one_tool(toolkit: str, reference: str, module: ModuleType, function: str) -> Tool[..., Any]:
    value = getattr(module, function, None)
    if value is None:
        raise ToolError(f"toolkit {toolkit!r}: {reference} names no attribute {function!r} of its module")
    if isinstance(value, Tool):
        return value
    if callable(value):
        return Tool.from_function(value)
    raise ToolError(f"toolkit {toolkit!r}: {reference} is a {type(value).__name__}, not a function or a Tool")


def _load_module(toolkit: str, module_ref: str, base_dir: Path) -> ModuleType:
    if not is_python_file(module_ref):
        try:
            return importlib.import_module(module_ref)
        except ImportError as err:
            raise ToolError(
                f"toolkit {toolkit!r}: cannot import {module_ref} ({err}); a module is looked for on the "
                "Python path and in the config's folder, a file is written as a path ending in .py"
            ) from None
        except Exception as err:
            raise ToolError(f"toolkit {toolkit!r}: importing {module_ref} raised {type(err).__name__}: {err}") from err
    path = Path(module_ref).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    path = path.absolute()
    if not path.is_file():
        raise ToolError(f"toolkit {toolkit!r}: there is no file {path} (python paths are relative to the config)")
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    name = f"{_FILE_MODULE_PREFIX}{toolkit.replace('-', '_')}_{digest}"
    stamp = _stamp(path)
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, _STAMP_ATTR, None) == stamp:
        return loaded  # unchanged since it ran (the start's checks ran it): run it once
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ToolError(f"toolkit {toolkit!r}: {path} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    # Registered while it runs, as an import would: dataclasses and pydantic models in it look themselves up.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        sys.modules.pop(name, None)
        raise ToolError(f"toolkit {toolkit!r}: running {path} raised {type(err).__name__}: {err}") from err
    setattr(module, _STAMP_ATTR, stamp)
    return module


def _stamp(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_mtime_ns, status.st_size
