"""Portable SQL text: qmark placeholders for psycopg, and scripts split into statements for sqlite3."""

from __future__ import annotations

import re
import sqlite3

from hypothesis import given
from hypothesis import strategies as st

from agentrt.store._sql import split_sqlite_statements, to_pyformat


def test_placeholders_become_pyformat_outside_quotes_and_comments() -> None:
    assert to_pyformat("SELECT ?, '?', \"a?\" FROM t WHERE x = ? -- ?\n AND y = ? /* ? */") == (
        "SELECT %s, '?', \"a?\" FROM t WHERE x = %s -- ?\n AND y = %s /* ? */"
    )


def test_percent_signs_are_escaped_everywhere() -> None:
    assert to_pyformat("SELECT '50%' WHERE a LIKE ? AND b % 2 = 0") == "SELECT '50%%' WHERE a LIKE %s AND b %% 2 = 0"


def test_doubled_quotes_and_dollar_quoting_are_text() -> None:
    assert to_pyformat("SELECT 'it''s ?', ?") == "SELECT 'it''s ?', %s"
    assert to_pyformat("SELECT $$ ? $$, $fn$ '?' $fn$, ?") == "SELECT $$ ? $$, $fn$ '?' $fn$, %s"


def _psycopg_reading(converted: str) -> str:
    """What psycopg sees in pyformat text: ``%%`` is a percent sign, ``%s`` a placeholder (shown as ``?``)."""
    return re.sub(r"%(%|s)", lambda m: "%" if m.group(1) == "%" else "\0", converted)


@given(st.text(alphabet="ab ?%'", max_size=40))
def test_psycopg_reads_back_the_original_text_with_placeholders_only_outside_literals(sql: str) -> None:
    converted = to_pyformat(sql)
    assert "%" not in re.sub(r"%[%s]", "", converted)  # no stray % that psycopg would reject
    read = _psycopg_reading(converted)
    assert read.replace("\0", "?") == sql
    # Placeholders are exactly the '?' at an even count of quotes before them.
    expected = [i for i, ch in enumerate(sql) if ch == "?" and sql[:i].count("'") % 2 == 0]
    assert [i for i, ch in enumerate(read) if ch == "\0"] == expected


def test_split_keeps_semicolons_in_literals_and_triggers() -> None:
    script = """
        CREATE TABLE t (x TEXT);
        INSERT INTO t VALUES ('a;b');
        CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN UPDATE t SET x = x || ';'; END;
        -- a trailing comment
    """
    statements = split_sqlite_statements(script)
    assert len(statements) == 3
    assert statements[1] == "INSERT INTO t VALUES ('a;b')"
    assert statements[2].endswith("END")
    conn = sqlite3.connect(":memory:")
    for statement in statements:
        conn.execute(statement)


def test_split_keeps_an_incomplete_tail_so_sqlite_reports_it() -> None:
    assert split_sqlite_statements("SELECT 1; SELECT 'unterminated") == ["SELECT 1", "SELECT 'unterminated"]
