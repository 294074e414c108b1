"""Encryption at rest for secrets stored in the database (Twilio auth tokens, webhook secrets)."""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


def _fernet_key(secret: str) -> bytes:
    """A Fernet key from a configured key, or derived from any secret string."""
    try:
        if len(base64.urlsafe_b64decode(secret.encode())) == 32:
            return secret.encode()
    except (ValueError, TypeError):
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())


def _cipher() -> MultiFernet:
    # The first key encrypts; every key decrypts, so keys can be rotated without downtime.
    return MultiFernet([Fernet(_fernet_key(key)) for key in settings.FIELD_ENCRYPTION_KEYS])


def encrypt(plaintext: str) -> str:
    """Encrypt a secret for storage."""
    return _cipher().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """Decrypt a stored secret; raise ValueError when no configured key opens it."""
    try:
        return _cipher().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise ValueError("A stored secret cannot be decrypted with the configured keys.") from error


class EncryptedTextField(models.TextField):
    """A text column stored encrypted; Python code reads and writes the plaintext."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)
