"""Portable SQL text: ``?`` placeholders for psycopg, and migrations split into statements for sqlite3.

Every statement agentrt writes uses qmark placeholders (``?``), the style
sqlite3 speaks. psycopg speaks ``%s`` and treats every ``%`` as the start of a
placeholder, wherever it is, once parameters are passed. So for PostgreSQL each
``?`` outside quoted text and comments becomes ``%s``, and every ``%`` (also
inside a literal such as ``LIKE 'a%'``) becomes ``%%``.
"""

from __future__ import annotations

import re
import sqlite3
from functools import lru_cache

__all__ = ["split_sqlite_statements", "to_pyformat"]

# One token of SQL text that may hold a '?' that is not a placeholder:
# 'string' (with '' inside), "identifier", -- comment, /* comment */, $tag$ dollar quote $tag$.
_QUOTED = re.compile(
    r"""
      '(?:[^']|'')*'?
    | "(?:[^"]|"")*"?
    | --[^\n]*
    | /\*.*?(?:\*/|\Z)
    | (?P<dollar>\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$).*?(?:(?P=dollar)|\Z)
    """,
    re.VERBOSE | re.DOTALL,
)


@lru_cache(maxsize=512)
def to_pyformat(sql: str) -> str:
    """``sql`` with ``?`` placeholders rewritten to ``%s`` and ``%`` escaped, for psycopg.

    A ``?`` inside a string literal, a quoted identifier, a comment or a
    dollar-quoted body is text, not a placeholder, and stays as it is.
    Cached: the same few statements run again and again.
    """
    out: list[str] = []
    pos = 0
    for match in _QUOTED.finditer(sql):
        out.append(sql[pos : match.start()].replace("%", "%%").replace("?", "%s"))
        out.append(match.group(0).replace("%", "%%"))
        pos = match.end()
    out.append(sql[pos:].replace("%", "%%").replace("?", "%s"))
    return "".join(out)


def split_sqlite_statements(script: str) -> list[str]:
    """The complete statements of a script, in order, for sqlite3 (which runs one statement a call).

    Splits on ``;`` only where SQLite itself says a statement is complete, so a
    ``;`` in a string literal or inside a trigger's ``BEGIN ... END`` does not split.
    A trailing fragment that is not a complete statement is kept as the last one,
    so SQLite reports its error rather than this function dropping it.
    """
    statements: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending = f"{pending};{piece}" if pending else piece
        if sqlite3.complete_statement(pending + ";"):
            if not _blank(pending):
                statements.append(pending.strip())
            pending = ""
    if not _blank(pending):
        statements.append(pending.strip())
    return statements


def _blank(sql: str) -> bool:
    """True for text that holds nothing but whitespace and comments."""
    pos = 0
    for match in _QUOTED.finditer(sql):
        token = match.group(0)
        if sql[pos : match.start()].strip() or not token.startswith(("--", "/*")):
            return False
        pos = match.end()
    return not sql[pos:].strip()
