"""Reports that incidents unit tests print at the end of the run, whatever ``-s`` says
(the triage corpus's precision/recall table)."""

from __future__ import annotations

import pytest

_TABLES = pytest.StashKey[list[str]]()


@pytest.fixture
def summary_table(request: pytest.FixtureRequest) -> list[str]:
    """Append text here; it is printed in the terminal summary (and kept if the test fails)."""
    return request.config.stash.setdefault(_TABLES, [])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    tables = config.stash.get(_TABLES, [])
    if tables:
        terminalreporter.section("triage corpus")
        for table in tables:
            terminalreporter.write_line(table)
