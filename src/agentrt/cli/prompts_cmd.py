"""``agentrt prompts list`` and ``agentrt prompts render NAME``: the configured prompt templates.

Neither starts a runtime: they read the configuration and compile its
prompts, so a template can be tried without a provider or a store.
``render`` takes inputs as ``--input key=value`` (repeatable; a value is text
for a ``str`` input and JSON for any other: ``--input tags='["a","b"]'``) or all
at once as ``--inputs '{"ticket": "..."}'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentrt.cli._common import ConfigOption, EnvOption, fail, load, reported_errors, stdout

if TYPE_CHECKING:
    from agentrt.config._prompts import PromptSection
    from agentrt.prompts import PromptLibrary

__all__ = ["app"]

app = typer.Typer(help="The configured prompt templates.", no_args_is_help=True, rich_markup_mode=None)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


def _library(config: ConfigOption, env: EnvOption) -> tuple[PromptLibrary, dict[str, PromptSection]]:
    from agentrt.errors import ConfigError, ConfigProblem
    from agentrt.prompts import PromptLibrary

    loaded = load(config, env)
    prompts = loaded.config.prompts
    try:
        return PromptLibrary(prompts), prompts
    except ConfigError as err:  # point each problem at its line, as `config validate` does
        problems = [ConfigProblem(p.path, p.message, p.source or loaded.source_of(p.path)) for p in err.problems]
        raise ConfigError(problems, source=str(loaded.path) if loaded.path else None) from None


@app.command("list")
def list_prompts(config: ConfigOption = None, env: EnvOption = None, json_output: JsonOption = False) -> None:
    """A table of prompts: name, inputs (a * marks a required one), description."""
    with reported_errors():
        infos = _library(config, env)[0].list()
    if json_output:
        import json

        rows = [
            {
                "name": info.name,
                "description": info.description,
                "inputs": [
                    {
                        "name": item.name,
                        "type": item.type,
                        "required": item.required,
                        "default": item.default,
                        "description": item.description,
                    }
                    for item in info.inputs
                ],
            }
            for info in infos
        ]
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    if not infos:
        typer.echo("no prompts are configured: declare them under prompts (see the README, section Prompts)")
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="prompts", title_justify="left")
    for column in ("prompt", "inputs", "description"):
        table.add_column(column)
    for info in infos:
        inputs = ", ".join(f"{item.name}{'*' if item.required else ''}: {item.type}" for item in info.inputs)
        # escape: ``list[str]`` is not a style
        table.add_row(escape(info.name), escape(inputs) or "-", escape(info.description) or "-")
    stdout().print(table)


@app.command("render")
def render(
    name: Annotated[str, typer.Argument(help="The prompt's name under prompts.")],
    inputs: Annotated[
        list[str] | None,
        typer.Option("--input", "-i", help="One input as KEY=VALUE (text for str inputs, JSON for the others)."),
    ] = None,
    inputs_json: Annotated[
        str | None, typer.Option("--inputs", help='Every input as one JSON object: \'{"ticket": "..."}\'.')
    ] = None,
    config: ConfigOption = None,
    env: EnvOption = None,
    json_output: JsonOption = False,
) -> None:
    """Render prompt NAME and print its messages."""
    with reported_errors():
        library, sections = _library(config, env)
        values = _parse_inputs(inputs or [], inputs_json, sections.get(name))
        rendered = library.render(name, **values)
    if json_output:
        import json

        messages = [{"role": message.role, "content": message.text} for message in rendered]
        typer.echo(json.dumps({"name": rendered.name, "digest": rendered.digest, "messages": messages}, indent=2))
        return
    for index, message in enumerate(rendered):
        if index:
            typer.echo("")
        typer.echo(f"--- {message.role} ---")
        typer.echo(message.text)


def _parse_inputs(pairs: list[str], inputs_json: str | None, section: PromptSection | None) -> dict[str, Any]:
    import json

    values: dict[str, Any] = {}
    if inputs_json is not None:
        try:
            parsed = json.loads(inputs_json)
        except json.JSONDecodeError as err:
            fail(f'--inputs is not valid JSON ({err.msg} at character {err.pos}): write \'{{"key": "value"}}\'')
        if not isinstance(parsed, dict):
            fail('--inputs must be a JSON object: \'{"key": "value"}\'')
        values.update(parsed)
    declared = section.inputs if section is not None else {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            fail(f"--input {pair!r} is not KEY=VALUE: write --input ticket='my invoice is wrong'")
        spec = declared.get(key)
        if spec is None or spec.type == "str":
            values[key] = text  # text as typed; an undeclared key is reported by the render, by name
            continue
        try:
            values[key] = json.loads(text)
        except json.JSONDecodeError:
            if spec.type == "any":
                values[key] = text
                continue
            fail(
                f'--input {key} is declared {spec.describe()}: give its value as JSON (e.g. 3, true, ["a"], {{"k": 1}})'
            )
    return values
