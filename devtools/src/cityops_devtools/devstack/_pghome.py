"""Where a PostgresServer keeps its data when run as root.

Postgres refuses to run as root, so as root it runs as `postgres`, which must be able to reach its
data directory. A run_dir inside a private tree (pytest's 0700 /tmp/pytest-of-root, a 0700 home)
cannot be reached, so the data then lives in a "detached home" under the system temp directory,
named after the run_dir (the same run_dir finds the same data again), with run_dir/data a symlink
to it. Detached homes whose run_dir is gone are removed at the next start.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pwd
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger("cityops.devstack")

_PREFIX = "cityops-pg-"
_OWNER_FILE = "run_dir.txt"


def reachable(path: Path, user: str) -> bool:
    """Can `user` traverse every existing directory on the way to path?"""
    uid = pwd.getpwnam(user).pw_uid
    for parent in path.parents:
        try:
            st = parent.stat()
        except FileNotFoundError:
            continue
        if st.st_uid != uid and not st.st_mode & 0o001:
            return False
    return True


def server_home(run_dir: Path, user: str | None) -> Path:
    """The directory holding data/ and sock/ for a server whose run_dir is run_dir."""
    if user is None or reachable(run_dir, user):
        return run_dir
    collect_orphans()
    key = hashlib.sha256(str(run_dir).encode()).hexdigest()[:16]
    home = Path(tempfile.gettempdir()) / f"{_PREFIX}{key}"
    home.mkdir(mode=0o700, exist_ok=True)
    (home / _OWNER_FILE).write_text(str(run_dir))
    shutil.chown(home, user, user)
    link = run_dir / "data"
    if not link.exists() and not link.is_symlink():
        link.symlink_to(home / "data")
    return home


def collect_orphans() -> None:
    """Remove detached homes whose run_dir no longer exists and whose server is not running."""
    for home in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        owner_file = home / _OWNER_FILE
        try:
            run_dir = Path(owner_file.read_text().strip())
        except OSError:
            continue
        if run_dir.exists() or _postmaster_alive(home / "data" / "postmaster.pid"):
            continue
        log.info("removing orphaned postgres data %s (run_dir %s is gone)", home, run_dir)
        shutil.rmtree(home, ignore_errors=True)


def _postmaster_alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, 0)
        return True
    return False
