"""Where the public standards' official artefacts are read from (never copied into the project).

``CITYOPS_STANDARDS_DIR``, defaulting to ``../shared/standards`` relative to the project root
(the folder holding ``cap/``, ``eido/`` and ``open311/``).
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "CITYOPS_STANDARDS_DIR"
# libs/src/cityops_platform/standards.py → the project root is three folders up from this package.
PROJECT_ROOT = Path(__file__).resolve().parents[3]


def standards_dir() -> Path:
    """The standards folder from ``CITYOPS_STANDARDS_DIR`` or the default beside the project."""
    value = os.environ.get(ENV, "").strip()
    return Path(value) if value else (PROJECT_ROOT.parent / "shared" / "standards")
