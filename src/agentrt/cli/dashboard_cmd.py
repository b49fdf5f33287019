"""``agentrt dashboard``: open the web dashboard of a running ``agentrt serve`` in the browser.

The server's address comes from ``--url``, else from the configuration's
``server.host`` and ``server.port`` (a server listening on every interface,
``0.0.0.0`` or ``::``, is opened on loopback). The command first checks that a
server answers there and serves the dashboard, so a typo or a stopped server
gets a sentence, not a browser tab with an error page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from agentrt.cli._common import ConfigOption, EnvOption, fail, load, reported_errors

if TYPE_CHECKING:
    from agentrt.config import ServerSection

__all__ = ["dashboard", "dashboard_url"]

_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}


def dashboard_url(base: str) -> str:
    """``base`` (a server's URL, with or without ``/ui``) as the dashboard's URL."""
    base = base.strip().rstrip("/")
    if "://" not in base:
        base = "http://" + base
    return base if base.endswith("/ui") else base + "/ui"


def _from_config(section: ServerSection) -> str:
    host = _WILDCARDS.get(section.host, section.host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address in a URL
    return f"http://{host}:{section.port}"


def _check(url: str, timeout: float) -> None:
    """Fail with a sentence unless a server answers at ``url``'s login page."""
    import urllib.error
    import urllib.request

    login = url + "/login"
    try:
        with urllib.request.urlopen(login, timeout=timeout) as response:  # http(s) only: checked by the caller
            status = response.status
    except urllib.error.HTTPError as err:
        status = err.code
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        fail(
            f"no agentrt server answers at {url} ({reason}): start one with `agentrt serve`, "
            "or pass the address of a running one with --url"
        )
    if status == 404:
        fail(f"the server at {url} has no dashboard: it is turned off (server.ui.enabled: false) or too old")
    if status != 200:
        fail(f"the server at {url} answered {status} for the dashboard's login page")


def dashboard(
    url: Annotated[
        str | None,
        typer.Option("--url", help="The running server's address (http://host:port). Default: from the config."),
    ] = None,
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the browser, or only print the address.")
    ] = True,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the server to answer.")] = 3.0,
    config: ConfigOption = None,
    env: EnvOption = None,
) -> None:
    """Open the web dashboard (/ui) of a running `agentrt serve` in the browser.

    Log in there with an admin key, or a key with the `dashboard` scope."""
    if url is not None and not url.strip():
        fail("--url is empty: give the server's address, e.g. --url http://127.0.0.1:8080")
    if url is None:
        with reported_errors():
            loaded = load(config, env)
        url = _from_config(loaded.config.server)
    target = dashboard_url(url)
    if not target.startswith(("http://", "https://")):
        fail(f"--url must be an http:// or https:// address, got {url!r}")
    _check(target, timeout)
    typer.echo(target)
    if open_browser:
        import webbrowser

        if not webbrowser.open(target):
            typer.echo("no browser could be opened here: open the address above yourself", err=True)
