"""Operator accounts: scrypt hashes, constant-cost checks, the bundled dev users."""

from __future__ import annotations

from pathlib import Path

import pytest

from cityops_gateway.settings import GatewaySettings
from cityops_gateway.users import UserDirectory, hash_password, verify_password


def test_a_hash_verifies_only_its_own_password_and_is_salted() -> None:
    encoded = hash_password("mật-khẩu")
    assert verify_password("mật-khẩu", encoded)
    assert not verify_password("mat-khau", encoded)
    assert hash_password("mật-khẩu") != encoded


@pytest.mark.parametrize("bad", ["", "plain", "bcrypt$1$2$3$00$00", "scrypt$x$8$1$00$00"])
def test_a_malformed_hash_never_matches(bad: str) -> None:
    assert not verify_password("anything", bad)


def test_bundled_dev_users_sign_in_with_their_documented_passwords() -> None:
    users = UserDirectory.load(GatewaySettings().users_file)
    for username, role in [("operator", "operator"), ("dispatcher", "dispatcher"),
                           ("supervisor", "supervisor"), ("call_taker", "call_taker")]:
        password = f"{username.replace('_', '-')}-dev"
        operator = users.authenticate(username, password)
        assert operator is not None and operator.roles == (role,)
        assert users.authenticate(username, password + "x") is None
    assert users.authenticate("nobody", "operator-dev") is None


def test_a_users_file_with_an_unknown_role_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    path.write_text("users:\n  - {username: a, roles: [wizard], password_hash: x}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="wizard"):
        UserDirectory.load(path)
