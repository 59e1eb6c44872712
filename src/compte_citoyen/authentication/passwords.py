"""Password and secret-answer hashing with argon2 (argon2-cffi), rehashed when parameters change."""
from __future__ import annotations

import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters

#: A valid hash of a random password: verifying against it makes an unknown login cost the same time.
_DUMMY_HASH = _hasher.hash("a password nobody has 0f3c2a1e")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> tuple[bool, str | None]:
    """Return (matches, new hash if the stored one uses outdated parameters)."""
    try:
        _hasher.verify(stored_hash or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, None
    if stored_hash is None:
        return False, None
    if _hasher.check_needs_rehash(stored_hash):
        return True, _hasher.hash(password)
    return True, None


def normalise_answer(answer: str) -> str:
    """Secret answers compare without case, accents or extra spaces."""
    text = unicodedata.normalize("NFKD", answer or "")
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(text.casefold().split())


def hash_answer(answer: str) -> str:
    return _hasher.hash(normalise_answer(answer))


def verify_answer(stored_hash: str | None, answer: str) -> bool:
    return verify_password(stored_hash, normalise_answer(answer))[0]
