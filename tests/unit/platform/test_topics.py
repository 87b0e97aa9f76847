from __future__ import annotations

import re
from pathlib import Path

import pytest

from cityops_platform.db.migrations import migration_files
from cityops_platform.kafka.topics import CATALOG, UNIT_STATUS, all_topics


def test_topic_names_follow_the_convention() -> None:
    for spec in CATALOG:
        assert re.fullmatch(r"cityops\.[a-z]+\.[a-z-]+\.v1", spec.name), spec.name


def test_every_topic_has_a_dead_letter_sibling() -> None:
    names = {t.name for t in all_topics()}
    for spec in CATALOG:
        assert f"{spec.name}.dlq" in names


def test_unit_status_is_compacted_and_prefix_applies() -> None:
    assert UNIT_STATUS.config()["cleanup.policy"] == "compact"
    assert UNIT_STATUS.full_name("t1.") == "t1.cityops.dispatch.unit-status.v1"


def test_migration_files_must_be_numbered_and_unique(tmp_path: Path) -> None:
    (tmp_path / "001_init.sql").write_text("select 1")
    (tmp_path / "002_more.sql").write_text("select 1")
    assert [v for v, _, _ in migration_files(tmp_path)] == [1, 2]
    (tmp_path / "002_clash.sql").write_text("select 1")
    with pytest.raises(ValueError, match="duplicate"):
        migration_files(tmp_path)
    (tmp_path / "bad.sql").write_text("select 1")
    with pytest.raises(ValueError, match="NNN_name"):
        migration_files(tmp_path)
