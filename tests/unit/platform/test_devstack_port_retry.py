"""``ServerProcess._launch_until_ready``: the devstack servers' one rule for a port taken before the bind."""

from __future__ import annotations

from pathlib import Path

import pytest

from cityops_devtools.devstack._process import PortTaken, ServerProcess


class Scripted(ServerProcess):
    """A server whose readiness answers come from a script: an exception to raise, or None for ready."""

    def __init__(self, run_dir: Path, answers: list[BaseException | None]) -> None:
        super().__init__(run_dir, None)
        self.answers = answers
        self.calls: list[str] = []

    def kill(self) -> None:
        self.calls.append("kill")
        super().kill()

    def run(self, *, ports_chosen: bool) -> float:
        def wait_ready(deadline: float) -> None:
            self.calls.append("wait")
            answer = self.answers.pop(0)
            if answer is not None:
                raise answer

        return self._launch_until_ready(
            what="scripted", prepare=lambda: self.calls.append("prepare"), launch=lambda: self.calls.append("launch"),
            wait_ready=wait_ready, timeout=5.0, ports_chosen=ports_chosen,
            forget_ports=lambda: self.calls.append("forget"),
        )


def test_a_port_we_chose_that_was_taken_is_picked_again_until_the_server_is_ready(tmp_path: Path) -> None:
    server = Scripted(tmp_path, [PortTaken("taken"), PortTaken("taken"), None])
    server.run(ports_chosen=True)
    once = ["prepare", "launch", "wait"]
    assert server.calls == [*once, "kill", "forget", *once, "kill", "forget", *once]


def test_three_taken_ports_in_a_row_give_up(tmp_path: Path) -> None:
    server = Scripted(tmp_path, [PortTaken("1"), PortTaken("2"), PortTaken("3")])
    with pytest.raises(PortTaken, match="3"):
        server.run(ports_chosen=True)
    assert server.calls.count("launch") == 3 and server.calls.count("forget") == 2


def test_a_port_the_caller_gave_is_kept_and_its_failure_reported(tmp_path: Path) -> None:
    server = Scripted(tmp_path, [PortTaken("given")])
    with pytest.raises(PortTaken):
        server.run(ports_chosen=False)
    assert server.calls == ["prepare", "launch", "wait", "kill"]


def test_any_other_failure_kills_the_server_at_once(tmp_path: Path) -> None:
    server = Scripted(tmp_path, [RuntimeError("crashed"), None])
    with pytest.raises(RuntimeError, match="crashed"):
        server.run(ports_chosen=True)
    assert server.calls == ["prepare", "launch", "wait", "kill"]
