"""`make setup` on a fresh machine: the system-packages step and `make help`.

As a non-root user with a package missing, the step installs nothing and prints the exact
`sudo apt-get install` command, then fails so `make setup` stops. Every target is in `make help`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_non_root_without_maven_prints_the_exact_sudo_command_and_stops() -> None:
    # Not pytest's tmp_path: it is private to root, and the check runs as an ordinary user.
    top = Path(tempfile.mkdtemp(prefix="cityops-setup-"))
    bin_dir = top / "bin"
    bin_dir.mkdir()
    # Everything the check looks for except mvn (and no apt-get, so nothing could be installed).
    for tool in ("java", "make", "openssl", "sed", "python3.11"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    top.chmod(0o755)
    # A copy, since the checkout itself may be private to root as well.
    script = top / "system_packages.sh"
    shutil.copy(ROOT / "scripts" / "system_packages.sh", script)
    argv = ["/bin/bash", str(script)]
    if os.geteuid() == 0:  # become an ordinary user, as a developer on a laptop would be
        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        argv = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
    try:
        result = subprocess.run(argv, env={"PATH": str(bin_dir)}, capture_output=True, text=True, timeout=60,
                                check=False)
    finally:
        shutil.rmtree(top)
    assert result.returncode == 1, result.stdout + result.stderr
    command = re.search(r"^\s*sudo apt-get update && sudo apt-get install -y -q --no-install-recommends (.+)$",
                        result.stderr, re.MULTILINE)
    assert command, result.stderr
    assert "maven" in command.group(1).split()
    assert "Thiếu gói hệ thống / missing system packages" in result.stderr
    assert "installing" not in result.stdout


def test_make_help_lists_every_target() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z0-9][a-z0-9-]*):(?!=)", makefile, re.MULTILINE))
    result = subprocess.run(["make", "-s", "-C", str(ROOT), "help"], capture_output=True, text=True, check=True)
    listed = set(re.findall(r"^\s+make (\S+)", result.stdout, re.MULTILINE))
    assert {"setup", "lock", "test-unit", "test-integration", "test-e2e", "test-unit-py313"} <= listed
    assert targets == listed, f"targets without a `## ` help line: {sorted(targets - listed)}"
