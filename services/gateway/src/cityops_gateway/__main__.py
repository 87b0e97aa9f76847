"""``python -m cityops_gateway hash-password``: a scrypt hash for the users file."""

from __future__ import annotations

import getpass
import sys

from cityops_gateway.users import hash_password


def main(argv: list[str]) -> int:
    if argv[:1] != ["hash-password"]:
        print("usage: python -m cityops_gateway hash-password", file=sys.stderr)
        return 2
    password = getpass.getpass("Mật khẩu (password): ")
    if password != getpass.getpass("Nhập lại (again): "):
        print("không khớp (mismatch)", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
