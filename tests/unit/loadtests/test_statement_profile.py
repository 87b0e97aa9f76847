"""The bench's Postgres statements profile (--profile): totals per report and the top statements as a table."""

from __future__ import annotations

from loadtests.bench.profile import statements_markdown


def test_the_statements_table_gives_each_statements_share_and_escapes_the_pipe() -> None:
    profile = {"calls": 3000, "exec_ms": 400.0, "calls_per_report": 30.0, "exec_ms_per_report": 4.0,
               "top": [{"calls": 100, "total_ms": 300.0, "rows": 100, "query": "SELECT a || b FROM t"},
                       {"calls": 2900, "total_ms": 100.0, "rows": 0, "query": "COMMIT"}]}
    text = statements_markdown(profile)
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    assert rows == ["| 100 | 300 | 75.0 | 100 | `SELECT a \\|\\| b FROM t` |", "| 2,900 | 100 | 25.0 | 0 | `COMMIT` |"]
    assert "3,000 lần gọi (calls)" in text and "30.0 lần gọi" in text and "4.0 ms" in text
