"""Citizen accounts: the household's way in."""
from __future__ import annotations

import datetime
from itertools import islice

from BTrees.Length import Length
from BTrees.OOBTree import OOBTree, OOTreeSet
from persistent import Persistent

from ..resources import Folder
from ..security import CITIZEN_KIND, SessionHolder

PENDING = "pending"        # waiting for validation by the city
VALIDATED = "validated"
REFUSED = "refused"
CLOSED = "closed"


def code_key(code: str) -> str:
    """Codes d'accès are unique whatever the case (and surrounding spaces)."""
    return (code or "").strip().casefold()


class Account(SessionHolder, Persistent):
    """The login of a household's holder: code d'accès, password hash, secret question, state."""

    kind = CITIZEN_KIND
    state = PENDING
    validated_at = None
    refusal_reason = ""
    closure_requested_at = None
    password_changed_at = None
    reset_tokens = None  # OOBTree: token hash -> expiry (datetime)
    terms_accepted_at = None  # when the general terms were accepted (account creation)

    def __init__(self, code: str, password_hash: str, household_id: str, member_id: str,
                 secret_question: str, secret_answer_hash: str, created: datetime.datetime | None = None):
        self.code = code.strip()
        self.password_hash = password_hash
        self.household_id = household_id
        self.member_id = member_id
        self.secret_question = secret_question
        self.secret_answer_hash = secret_answer_hash
        self.created = created or datetime.datetime.now(datetime.timezone.utc)
        self.sessions = OOBTree()
        self.reset_tokens = OOBTree()

    @property
    def key(self) -> str:
        return code_key(self.code)

    userid_key = key

    @property
    def userid(self) -> str:
        return f"citizen:{self.key}"

    @property
    def display_name(self) -> str:
        return self.code

    @property
    def active(self) -> bool:
        return self.state != CLOSED

    @property
    def validated(self) -> bool:
        return self.state == VALIDATED

    def principals(self) -> list[str]:
        return ["citizen", f"household:{self.household_id}", f"account:{self.key}"]

    def set_password(self, password_hash: str, now: datetime.datetime | None = None) -> None:
        """A new password ends the other ways in: reset links (see ``AccountFolder.clear_reset_tokens``)."""
        self.password_hash = password_hash
        self.password_changed_at = now or datetime.datetime.now(datetime.timezone.utc)


class AccountFolder(Folder):
    """Accounts keyed by ``code_key``; index of accounts waiting for validation, oldest first."""

    reset_index = None  # OOBTree: reset-link token hash -> account key (created on first use)
    pending_count = None  # BTrees.Length of ``pending`` (evolve step core:0074-accounts-pending-count)

    def __init__(self):
        super().__init__()
        self.pending = OOTreeSet()          # (created, key)
        self.by_household = OOBTree()       # household id -> key
        self.reset_index = OOBTree()
        self.pending_count = Length()

    def get_by_code(self, code: str) -> Account | None:
        return self.get(code_key(code))

    def add_account(self, account: Account) -> Account:
        self.add(account.key, account)
        self.by_household[account.household_id] = account.key
        if account.state == PENDING:
            self._count_pending(self.pending.add((account.created, account.key)))
        return account

    def _count_pending(self, delta: int) -> None:
        if delta and self.pending_count is not None:
            self.pending_count.change(delta)

    def set_state(self, account: Account, state: str) -> None:
        entry = (account.created, account.key)
        if entry in self.pending:
            self.pending.remove(entry)
            self._count_pending(-1)
        account.state = state
        if state == PENDING:
            self._count_pending(self.pending.add(entry))
        if state == VALIDATED:
            account.validated_at = datetime.datetime.now(datetime.timezone.utc)

    def for_household(self, household_id: str) -> Account | None:
        key = self.by_household.get(household_id)
        return self.get(key) if key else None

    def waiting(self, offset: int = 0, limit: int | None = None):
        """Accounts waiting for validation, oldest first: ``limit`` from ``offset`` (reads only those)."""
        stop = None if limit is None else offset + limit
        for _created, key in islice(self.pending.keys(), offset, stop):
            yield self.data[key]

    def waiting_count(self) -> int:
        """How many accounts wait for validation, from the counter."""
        if self.pending_count is None:  # a database not evolved yet
            return len(self.pending)
        return self.pending_count()

    def waiting_since_before(self, moment: datetime.datetime) -> int:
        """How many waiting accounts were created before ``moment`` (walks those index keys only)."""
        return len(self.pending.keys(max=(moment,)))

    def count_pending(self) -> None:
        """Create the counter of waiting accounts for a folder created before it."""
        if self.pending_count is None:
            self.pending_count = Length()
            self.pending_count.set(len(self.pending))

    # --- password reset links: stored hashed, single use, short-lived -----------------------------

    def add_reset_token(self, account: Account, token_hash: str, expires: datetime.datetime) -> None:
        now = datetime.datetime.now(datetime.timezone.utc)
        if account.reset_tokens is None:
            account.reset_tokens = OOBTree()
        for old_hash, old_expiry in list(account.reset_tokens.items()):
            if old_expiry < now:
                self._forget_token(account, old_hash)
        if self.reset_index is None:
            self.reset_index = OOBTree()
        account.reset_tokens[token_hash] = expires
        self.reset_index[token_hash] = account.key

    def account_for_token(self, token_hash: str, now: datetime.datetime | None = None) -> Account | None:
        """The account a live (unused, unexpired) reset token belongs to."""
        now = now or datetime.datetime.now(datetime.timezone.utc)
        key = self.reset_index.get(token_hash) if self.reset_index is not None else None
        account = self.get(key) if key else None
        if account is None or not account.reset_tokens:
            return None
        expires = account.reset_tokens.get(token_hash)
        if expires is None or expires < now:
            return None
        return account

    def _forget_token(self, account: Account, token_hash: str) -> None:
        if account.reset_tokens is not None:
            account.reset_tokens.pop(token_hash, None)
        if self.reset_index is not None:
            self.reset_index.pop(token_hash, None)

    def clear_reset_tokens(self, account: Account) -> None:
        """Every earlier link stops working (after a reset or a change of password)."""
        for token_hash in list(account.reset_tokens.keys()) if account.reset_tokens else []:
            self._forget_token(account, token_hash)
