"""Households and their members."""
from __future__ import annotations

import datetime
import secrets

from BTrees.OOBTree import OOBTree
from persistent import Persistent
from persistent.mapping import PersistentMapping

from ..resources import Folder

ADULT = "adult"
CHILD = "child"

EMAIL = "email"
PHONE = "phone"
SMS = "sms"
COMMUNICATION_CHOICES = (EMAIL, PHONE, SMS)


def new_id() -> str:
    """Identifiers shown in URLs are random, never sequential (not guessable)."""
    return secrets.token_hex(8)


class Member(Persistent):
    """A person of the household. Removed members are kept (flag) so past requests keep their history."""

    __parent__ = None
    __name__ = None
    civility = ""
    sex = ""
    relation = ""
    email = ""
    phone = ""
    mobile = ""
    school = ""
    school_class = ""
    health_notes = ""
    removed = False
    removed_at = None
    created = None   # datetime the member was declared (None for members created before it was recorded)
    updated = None   # datetime of the last change by the citizen

    def __init__(self, id: str, kind: str, family_name: str, first_names: str,
                 birth_date: datetime.date | None = None, **fields):
        self.id = id
        self.kind = kind
        self.family_name = family_name
        self.first_names = first_names
        self.birth_date = birth_date
        for name, value in fields.items():
            setattr(self, name, value)

    @property
    def full_name(self) -> str:
        return f"{self.first_names} {self.family_name}".strip()

    @property
    def is_adult(self) -> bool:
        return self.kind == ADULT


class Household(Persistent):
    """A household: its members, postal address, communication preference and billing references."""

    __parent__ = None
    __name__ = None
    communication = EMAIL
    address = ""
    postcode = ""
    city = ""
    closure_requested_at = None  # datetime of the holder's request to close the account (until handled)
    closed_at = None             # datetime staff closed the account at the holder's request

    def __init__(self, id: str, family_name: str, created: datetime.datetime | None = None):
        self.id = id
        self.family_name = family_name
        self.created = created or datetime.datetime.now(datetime.timezone.utc)
        self.members = OOBTree()            # member id -> Member
        self.billing_refs = PersistentMapping()  # régie code -> household reference in that régie
        self.holder_id = None

    @property
    def __acl__(self):
        from pyramid.authorization import Allow, DENY_ALL
        from ..security import CITIZEN, VIEW_CITIZEN_FILE
        return [(Allow, f"household:{self.id}", (CITIZEN, "view")),
                (Allow, "role:admin", VIEW_CITIZEN_FILE), (Allow, "role:validator", VIEW_CITIZEN_FILE),
                (Allow, "role:agent", VIEW_CITIZEN_FILE), DENY_ALL]

    def add_member(self, member: Member) -> Member:
        self.members[member.id] = member
        member.__parent__ = self
        member.__name__ = member.id
        return member

    @property
    def holder(self) -> Member | None:
        return self.members.get(self.holder_id) if self.holder_id else None

    def current_members(self) -> list[Member]:
        """Adults first, then children; each group by first names. Removed members are left out."""
        members = [m for m in self.members.values() if not m.removed]
        return sorted(members, key=lambda m: (m.kind != ADULT, m.birth_date or datetime.date.min, m.first_names))

    def adults(self) -> list[Member]:
        return [m for m in self.current_members() if m.kind == ADULT]

    def children(self) -> list[Member]:
        return [m for m in self.current_members() if m.kind == CHILD]

    @property
    def email(self) -> str:
        holder = self.holder
        return holder.email if holder is not None else ""

    @property
    def mobile(self) -> str:
        holder = self.holder
        return holder.mobile if holder is not None else ""


class HouseholdFolder(Folder):
    """Households keyed by their random id; a name index for staff searches; closure requests waiting."""

    closure_requests = None  # OOTreeSet of (requested datetime, household id), created by an evolve step

    def __init__(self):
        super().__init__()
        self.by_name = OOBTree()  # normalised family name -> OOTreeSet of household ids

    def new_household(self, family_name: str) -> Household:
        household_id = new_id()
        while household_id in self.data:
            household_id = new_id()
        household = Household(household_id, family_name)
        self.add(household_id, household)
        self.index_name(household)
        return household

    def index_name(self, household: Household, old_name: str | None = None) -> None:
        from BTrees.OOBTree import OOTreeSet
        from ..content import slugify
        if old_name:
            bucket = self.by_name.get(slugify(old_name))
            if bucket is not None:
                bucket.discard(household.id)
        key = slugify(household.family_name)
        bucket = self.by_name.get(key)
        if bucket is None:
            bucket = self.by_name[key] = OOTreeSet()
        bucket.add(household.id)

    def request_closure(self, household: Household, when: datetime.datetime) -> None:
        """Record a citizen's request to close the account (handled by staff, oldest first)."""
        from BTrees.OOBTree import OOTreeSet
        if self.closure_requests is None:
            self.closure_requests = OOTreeSet()
        if household.closure_requested_at is not None:
            return
        household.closure_requested_at = when
        self.closure_requests.add((when, household.id))

    def closure_handled(self, household: Household) -> None:
        if household.closure_requested_at is not None and self.closure_requests is not None:
            self.closure_requests.discard((household.closure_requested_at, household.id))
        household.closure_requested_at = None

    def waiting_closures(self):
        """Households whose holder asked for the account to be closed, oldest request first."""
        if not self.closure_requests:
            return
        for _when, household_id in self.closure_requests.keys():
            household = self.data.get(household_id)
            if household is not None:
                yield household
