"""Webhook secrets at rest: encrypted with Fernet, decrypted only by the sender to sign a body."""

from __future__ import annotations

from cryptography.fernet import Fernet


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def open(self, sealed: bytes) -> str:
        return self._fernet.decrypt(sealed).decode()
