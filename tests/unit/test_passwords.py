"""Password policy, hashing, secret answers, phone numbers and the fake question (no app needed)."""
from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from compte_citoyen.authentication import passwords
from compte_citoyen.authentication.passwords import (
    MAX_LENGTH, MIN_LENGTH, common_passwords, hash_answer, hash_password, is_common, normalise_answer,
    password_problem, verify_answer, verify_password)
from compte_citoyen.authentication.schemas import SECRET_QUESTIONS, fake_question, normalise_phone


def test_length_rules_follow_cnil_and_asvs():
    assert MIN_LENGTH == 12
    assert MAX_LENGTH >= 64
    assert password_problem("a" * 3 + "b" * 8) is not None          # 11 characters
    assert password_problem("tortue vole") is not None               # 11 characters
    assert password_problem("tortue volent") is None                 # 13, no composition rule
    assert password_problem("x" * (MAX_LENGTH + 1)) is not None
    long_one = "é" + "ma phrase secrète " * 60
    assert password_problem(long_one[:MAX_LENGTH]) is None


def test_length_counts_characters_as_typed():
    decomposed = "cafe\u0301 au lait!"  # "café au lait!" with a combining accent: 13 characters
    assert passwords.length(decomposed) == 13


def test_common_passwords_are_refused_whatever_the_case():
    assert len(common_passwords()) > 3000
    for password in ["azertyuiop123", "AZERTYUIOP123", "Motdepasse123", "password1234", "123456789012",
                     "marseille2024", "bonjour2023!", "aaaaaaaaaaaa", "1q2w3e4r5t6y"]:
        assert is_common(password), password
        assert password_problem(password) is not None
    assert not is_common("un cheval blanc sous la pluie")


def test_password_equal_to_the_code_is_refused():
    assert password_problem("jeanne.dupont.1985", code="Jeanne.Dupont.1985") is not None
    assert password_problem("jeanne.dupont.1985", code="jdupont") is None


def test_hash_is_argon2id_and_never_truncated():
    password = "p" * 100 + "!"
    stored = hash_password(password)
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, password) == (True, None)
    assert verify_password(stored, password[:-1])[0] is False
    assert verify_password(stored, password[:72])[0] is False


def test_unknown_account_is_verified_against_a_dummy_hash():
    assert verify_password(None, "anything at all") == (False, None)


def test_outdated_parameters_are_rehashed():
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("a long enough password")
    matches, new_hash = verify_password(old, "a long enough password")
    assert matches and new_hash and new_hash != old
    assert verify_password(new_hash, "a long enough password") == (True, None)


@pytest.mark.parametrize("typed", ["Médor", "medor", "  MEDOR ", "Me\u0301dor", "médor"])
def test_secret_answer_ignores_case_accents_and_spaces(typed):
    stored = hash_answer("Médor")
    assert verify_answer(stored, typed)
    assert not verify_answer(stored, "Rex")
    assert normalise_answer(" Rue  de   la Paix ") == "rue de la paix"


def test_fake_question_is_deterministic_and_depends_on_the_secret():
    assert fake_question("s1", "Nobody") == fake_question("s1", "NOBODY ")
    assert fake_question("s1", "nobody") in [str(q) for q in SECRET_QUESTIONS]
    assert len({fake_question("s1", f"code{i}") for i in range(40)}) > 3
    assert [fake_question("s1", f"c{i}") for i in range(20)] != [fake_question("s2", f"c{i}") for i in range(20)]


@pytest.mark.parametrize("typed, expected", [
    ("01 23 45 67 89", "0123456789"), ("01.23.45.67.89", "0123456789"), ("+33 6 12 34 56 78", "0612345678"),
    ("0033612345678", "0612345678"), ("06-12-34-56-78", "0612345678"),
    ("12345", None), ("00 23 45 67 89", None), ("+44 20 7946 0958", None), ("0123456789012", None),
])
def test_french_phone_numbers(typed, expected):
    assert normalise_phone(typed) == expected
