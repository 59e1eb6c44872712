"""Password and secret-answer hashing with argon2 (argon2-cffi), rehashed when parameters change."""
from __future__ import annotations

import functools
import unicodedata
from importlib import resources

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


# --- password policy (CNIL 2022 recommendation, OWASP ASVS level 2) ----------------------------------
# Length is what makes a password strong: at least 12 characters, no composition rule, a maximum far above
# 64 that only protects the server (argon2's cost grows with the input), never truncated, and a refusal of
# passwords known to be common.

MIN_LENGTH = 12
MAX_LENGTH = 1024
COMMON_PASSWORDS_FILE = "common-passwords.txt"


@functools.lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower case."""
    text = resources.files(__package__).joinpath(COMMON_PASSWORDS_FILE).read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def length(password: str) -> int:
    """Characters as a person counts them (an accented letter typed two ways counts once)."""
    return len(unicodedata.normalize("NFC", password or ""))


def is_common(password: str) -> bool:
    candidate = unicodedata.normalize("NFC", password or "").strip().casefold()
    return candidate in common_passwords() or " ".join(candidate.split()) in common_passwords()


def password_problem(password: str, code: str | None = None):
    """Why ``password`` is refused (a translatable message), or None when it is acceptable."""
    from ..i18n import _
    size = length(password)
    if size < MIN_LENGTH:
        return _("The password must have at least ${min} characters (you typed ${count}). A sentence you "
                 "remember easily makes a good password.", mapping={"min": MIN_LENGTH, "count": size})
    if size > MAX_LENGTH:
        return _("The password must have at most ${max} characters.", mapping={"max": MAX_LENGTH})
    if is_common(password):
        return _("This password is too common and easy to guess: choose another one.")
    if code and (password or "").strip().casefold() == code.strip().casefold():
        return _("The password must not be your access code.")
    return None
