"""`cityops --version` names the installed version and the Python running it."""

from __future__ import annotations

import importlib.metadata
import platform

import pytest

from cityops_platform.cli import main


def test_version_prints_the_installed_distribution_and_python(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out == f"cityops {importlib.metadata.version('cityops-platform')} (Python {platform.python_version()})"
