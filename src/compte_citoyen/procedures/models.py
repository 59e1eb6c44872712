"""Submissions (filed requests), their attachments, and the drafts of forms being filled.

``SubmissionFolder`` keeps every request under its readable number and maintains its indexes in the same
transaction as the change (the staff's queue, by household, by normalised name): the pages and the back office
read an index, never every request. Entries of the per-household and per-name sets are ``(created, number)``
tuples, so they are sorted by date.

The staff's queue reads ``queue``, whose ascending order is newest first within a scope (a service's step and
a procedure's step: ``listed_scope``); a wider list (a service, a step, every request) merges those ranges
lazily, one page at a time. Its counts come from a ``Length`` per scope (every request, a step, a service, a
service's step, a service's procedure, and that procedure's step) changed in the same transaction as the request
(``queue_page``). The evolve step ``core:0073-request-queue`` builds both for existing databases.

The time-ordered sets are ``TimeIndex`` (large leaves: concurrent submissions seldom split the leaf they all
write to); ``core:0075-large-index-buckets`` converts the sets of older databases (``use_time_indexes``).

A request's queue entries go to the set of the process that filed it (``queue_by_shard[shard]``, see
``indexes.writer_shard``), so concurrent workers never write the same leaves: before, every new request of a
scope landed in the same leaf of one set, which each worker rewrote, the storage server merged, the others
reloaded, and a split replayed. These sets have small leaves (nothing else writes to them). Requests filed before
the shards keep their entries in ``queue`` (``Submission.queue_shard`` is 0); readers merge every set.
"""
from __future__ import annotations

import datetime
import heapq
from typing import Iterable, Iterator

from BTrees.Length import Length
from BTrees.OOBTree import OOBTree, OOSet, OOTreeSet, intersection, union
from persistent import Persistent
from persistent.mapping import PersistentMapping
from ZODB.blob import Blob

from ..indexes import (Batch, TimeIndex, change_count, convert_time_index, convert_time_indexes, copy_in_chunks,
                       every_part, IdTree, merged_page, newest_first, newest_keys, OLD_LEAF_SIZE, ordered_id,
                       owner_set, read_count, shard_part, NumberTree, parted, ShardedCounts, sharded_counts,
                       ShardedSet, sharded, widen, writer_shard)
from ..resources import Folder
from ..security import utcnow
from .registry import STEP_COUNT, STEP_RECEIVED, STEPS

SUBMISSIONS = "submissions"
DRAFTS = "procedure_drafts"

# how a supporting document is provided
DOC_FILE = "file"        # uploaded with the request
DOC_PAPER = "paper"      # "Je l'apporterai au guichet"
DOC_MISSING = "missing"  # optional document not given

# kinds of history events
EV_STATUS = "status"
EV_DECISION = "decision"
EV_MESSAGE = "message"
EV_DOCUMENTS_ASKED = "documents_asked"
EV_PAPER_RECEIVED = "paper_received"



def normalise_name(text: str) -> str:
    """Names are indexed without accents, case or punctuation ("Éloïse D'Arcy" -> "eloise-d-arcy")."""
    from ..content import slugify
    return slugify(text or "")


class Attachment(Persistent):
    """An uploaded file, its content in a ZODB blob (kept out of the object cache and the pickles)."""

    def __init__(self, document_code: str, filename: str, content_type: str, data: bytes):
        self.document_code = document_code
        self.filename = filename
        self.content_type = content_type
        self.size = len(data)
        self.uploaded = utcnow()
        self.blob = Blob()
        with self.blob.open("w") as handle:
            handle.write(data)

    def open(self):
        return self.blob.open("r")

    def read(self) -> bytes:
        with self.open() as handle:
            return handle.read()


class RequestDocument:
    """What the requester did for one expected document, and whether the paper copy arrived.

    Kept in the request's own record (``Submission.documents``): whoever changes it marks the submission
    changed (``workflow.mark_paper_received``).
    """

    received_at = None       # set by the back office when the paper document is handed in
    received_by = ""

    def __init__(self, code: str, title: str, required: bool, mode: str, attachment: Attachment | None = None):
        self.code = code
        self.title = title
        self.required = required
        self.mode = mode
        self.attachment = attachment


class DocumentState(Persistent, RequestDocument):
    """``RequestDocument`` as its own object: the requests filed before it hold these (same attributes).
    Stored by its dotted name: never rename or move it."""


class Event:
    """One line of a request's history (kept in a list in the submission's record)."""

    def __init__(self, kind: str, text: str, actor: str = "", status: str = "", when=None):
        self.when = when or utcnow()
        self.kind = kind
        self.text = text
        self.actor = actor
        self.status = status


class Submission(Persistent):
    """A filed request: what was answered, the documents, its workflow status and history."""

    __parent__ = None
    __name__ = None
    household_id = None
    account_key = None
    member_id = None
    member_name = ""
    requester_name = ""
    requester_email = ""
    tracking_hash = None          # sha256 of the anonymous tracking token (never the token itself)
    decision = ""                 # "accepted" / "refused"
    decision_motive = ""
    decided_at = None
    client_addr = ""
    queue_shard = 0               # shard of its queue entries (0: filed before the shards, see the module)

    def __init__(self, number: str, procedure_code: str, procedure_title: str, theme_code: str, service: str,
                 status: str, step: int, created: datetime.datetime | None = None):
        self.number = number
        self.procedure_code = procedure_code
        self.procedure_title = procedure_title
        self.theme_code = theme_code
        self.service = service
        self.status = status
        self.step = step
        self.created = created or utcnow()
        # Kept in the request's own record (one object to write, not six): ``answers`` and ``summary`` are
        # written once, when it is filed; ``history`` and ``notes`` only grow through ``log`` and ``add_note``;
        # ``documents`` is filled when it is filed (``RequestDocument``s). Requests filed before hold persistent
        # mappings and lists there (and ``DocumentState`` objects), which read and grow the same way.
        self.answers = {}                      # page index -> appstruct (dict) of that page
        self.summary = []                      # [(section title, [(label, value text)])], French, as filed
        self.documents = {}                    # document code -> RequestDocument
        self.history = []                      # Events the requester may see
        self.notes = []                        # internal notes (Events), never shown to the requester
        self.data = PersistentMapping()        # plugin data (e.g. the pick-up date), changed at any time
        self.index_names = ()

    @property
    def key(self) -> tuple:
        return (self.created, self.number)

    @property
    def step_title(self) -> str:
        """The step's French title (translated for the current request)."""
        return translate_text(STEPS.get(self.step, STEPS[STEP_RECEIVED]))

    @property
    def step_count(self) -> int:
        return STEP_COUNT

    @property
    def anonymous(self) -> bool:
        return self.household_id is None

    def answer(self, name: str, default=None):
        """The first answer named ``name`` in any page (plugins use it to read their own fields)."""
        for index in sorted(self.answers):
            values = self.answers[index]
            if name in values:
                return values[name]
        return default

    def log(self, kind: str, text: str, actor: str = "", status: str = "") -> Event:
        event = Event(kind, text, actor, status)
        self.history.append(event)
        self._p_changed = True  # a list inside this record (a PersistentList for requests filed before)
        return event

    def add_note(self, text: str, actor: str) -> Event:
        event = Event("note", text, actor)
        self.notes.append(event)
        self._p_changed = True
        return event

    def documents_expected_at_counter(self) -> list[RequestDocument]:
        return [d for d in self.documents.values() if d.mode == DOC_PAPER and d.received_at is None]


def translate_text(message) -> str:
    """Translate a message id for the current request (threadlocal), for attributes read by templates."""
    from pyramid.threadlocal import get_current_request
    request = get_current_request()
    if request is None or not hasattr(request, "translate"):
        return str(message)
    return request.translate(message)


def _bucket(tree: OOBTree, key, factory=TimeIndex) -> OOTreeSet:
    """The set of ``tree[key]``, created (a ``TimeIndex`` by default) on first use."""
    bucket = tree.get(key)
    if bucket is None:
        bucket = tree[key] = factory()
    return bucket


ALL_SCOPE = ("*",)


def step_scopes(submission: Submission, step: int) -> list[tuple]:
    """The queue scopes of a request that depend on its step: the step, its service's and its procedure's."""
    service, procedure = submission.service or "", submission.procedure_code or ""
    return [("t", step), ("s", service, step), ("p", service, procedure, step)]


def queue_scopes(submission: Submission) -> list[tuple]:
    """Every queue scope a request belongs to. Scopes of one kind are disjoint (a request has one service,
    one procedure, one step), so a query's count is the sum of its scopes' counters."""
    service, procedure = submission.service or "", submission.procedure_code or ""
    return [ALL_SCOPE, ("s", service), ("p", service, procedure)] + step_scopes(submission, submission.step)


def listed_scope(scope: tuple) -> bool:
    """Whether ``queue`` holds entries for ``scope``: only the finest, a service's step and a procedure's step.
    Every other scope is counted (a ``Length`` each) and listed by merging those: a submission writes two
    entries (two leaves) instead of six, and no leaf is shared by every submission of the city."""
    return (scope[0] == "s" and len(scope) == 3) or (scope[0] == "p" and len(scope) == 4)


def queue_entry(submission: Submission, scope: tuple) -> tuple:
    """The entry for ``submission`` in ``scope``, in the queue set of its shard (``SubmissionFolder.queue_set``)."""
    return (scope, newest_first(submission.created), submission.number)


#: attributes of the first releases' indexes (see ``SubmissionFolder.drop_old_indexes``)
OLD_INDEXES = ("by_service", "by_step", "by_status", "by_procedure", "by_date")


class SubmissionFolder(Folder):
    """Every request under its number, with indexes kept in the same transaction as the change."""

    queue = None         # OOTreeSet((scope, -created microseconds, number)), see queue_scopes
    queue_by_shard = None  # OOBTree writer shard -> OOTreeSet of the same entries (see the module)
    queue_counts = None  # scope -> count: SharedCounts (a ShardedCounts, or an OOBTree scope -> Length, before)
    # Indexes of the first releases, replaced by ``queue`` and no longer written (evolve step
    # core:0078-drop-old-request-indexes removes them): read only by ``search`` on a database not evolved yet.
    by_service = by_step = by_status = by_procedure = by_date = None

    def __init__(self):
        super().__init__()
        self.data = NumberTree()        # a part per block of numbers (``indexes.NumberTree``)
        self.by_household = OOBTree()   # household id -> OOTreeSet((created, number)), see owner_set
        self.by_name = OOBTree()        # normalised name -> TimeIndex((created, number))
        self.rate = OOBTree()           # (hour number, client address) -> Length, anonymous submissions
        self.queue = TimeIndex()
        self.queue_by_shard = OOBTree()
        self.queue_counts = ShardedCounts()

    # --- writing ------------------------------------------------------------------------------------

    def use_parted_trees(self) -> None:
        """The requests of an older folder kept inside a ``NumberTree`` (``resources.use_parted_trees``)."""
        self.data = parted(self.data, NumberTree)
        self.queue_counts = sharded_counts(self.queue_counts)

    def add_submission(self, submission: Submission, names: Iterable[str] = ()) -> Submission:
        """Store a new request and index it. Two transactions given the same number conflict on the
        ``data`` bucket (same key added twice), so pyramid_retry replays the loser with a fresh number."""
        self.add(submission.number, submission)
        submission.queue_shard = writer_shard()
        key = submission.key
        if submission.household_id:
            owner_set(self.by_household, submission.household_id).add(key)
        self.index_names(submission, names)
        self._enqueue(submission, queue_scopes(submission), 1)
        return submission

    def _enqueue(self, submission: Submission, scopes: list[tuple], delta: int) -> None:
        """Add (``delta`` 1) or remove (-1) the request in ``scopes``: an entry of ``queue`` for the listed
        ones (``listed_scope``), a count for each. Adding twice or removing what is not there changes nothing."""
        if self.queue is None:
            return  # not evolved yet: core:0073-request-queue builds the queue and its counts
        entries = [queue_entry(submission, scope) for scope in scopes if listed_scope(scope)]
        queue = self.queue_set(submission.queue_shard, create=delta > 0)
        if delta > 0:
            if not queue.add(entries[0]):
                return
            for entry in entries[1:]:
                queue.add(entry)
        else:
            if queue is None or entries[0] not in queue:
                return
            for entry in entries:
                queue.discard(entry)
        for scope in scopes:
            change_count(self.queue_counts, scope, delta)

    def index_names(self, submission: Submission, names: Iterable[str]) -> None:
        """Index each word of the names (the search matches each word typed as a prefix of one of them; a
        whole name would only repeat its first word's entry, and every entry is one more leaf written)."""
        key = submission.key
        for old in submission.index_names:
            bucket = self.by_name.get(old)
            if bucket is not None:
                bucket.discard(key)
        normalised = []
        for name in names:
            for part in (normalise_name(word) for word in (name or "").split()):
                if part and part not in normalised:
                    normalised.append(part)
        for part in normalised:
            self._name_set(part).add(key)
        submission.index_names = tuple(normalised)

    def _name_set(self, name: str) -> ShardedSet:
        """The set of requests under ``name``, as a ``ShardedSet``: a common name's newest keys were all added to
        one leaf that every process rewrote (a set of an older database is wrapped, its keys not copied)."""
        found = self.by_name.get(name)
        if not isinstance(found, ShardedSet):
            found = self.by_name[name] = sharded(found) if found is not None else ShardedSet()
        return found

    def set_status(self, submission: Submission, status: str, step: int) -> None:
        old_step = submission.step
        submission.status = status
        submission.step = step
        if old_step != step:
            self._enqueue(submission, step_scopes(submission, old_step), -1)
            self._enqueue(submission, step_scopes(submission, step), 1)

    # --- reading ------------------------------------------------------------------------------------

    def keys_for_household(self, household_id: str):
        return self.by_household.get(household_id) or OOSet()

    def newest(self, keys, limit: int | None = None) -> list[Submission]:
        """Submissions for index keys, newest first (reads only the ``limit`` newest)."""
        keys = keys.keys() if hasattr(keys, "keys") else list(keys)
        count = len(keys)
        stop = -1 if limit is None else max(count - limit, 0) - 1
        return [self.data[keys[i][1]] for i in range(count - 1, stop, -1)]

    def search(self, *, services: Iterable[str] | None = None, procedures: Iterable[str] | None = None,
               step: int | None = None, status: str | None = None, name: str | None = None,
               date_from: datetime.datetime | None = None, date_to: datetime.datetime | None = None):
        """Index keys matching every filter, oldest first (``None`` filters are not applied): the older way, for
        a database not evolved yet (no ``queue``), from the indexes of the first releases.

        Built from index intersections and a date slice; never reads the requests themselves, but the
        intersections walk every key of the indexes involved: pages use ``queue_page`` / ``queue_count``.
        Those indexes are no longer written: requests filed since the upgrade appear once ``evolve`` has run.
        """
        if self.by_date is None:
            return OOSet()
        result = None

        def narrow(current, keys):
            if current is None:
                return keys
            return intersection(current, keys)

        if services is not None:
            result = narrow(result, self._union(self.by_service, services))
        if procedures is not None:
            result = narrow(result, self._union(self.by_procedure, procedures))
        if step is not None:
            result = narrow(result, self.by_step.get(step) or OOSet())
        if status is not None:
            result = narrow(result, self.by_status.get(status) or OOSet())
        if name:
            result = narrow(result, self.name_keys(name))
        if result is None:
            result = self.by_date
        if date_from is not None or date_to is not None:
            low = (date_from,) if date_from is not None else None
            high = (date_to, "\uffff") if date_to is not None else None
            result = OOSet(result.keys(min=low, max=high))
        return result

    def name_keys(self, name: str) -> OOSet:
        """Keys of requests whose indexed names start with each word typed (prefix search on the index)."""
        result = None
        for word in (name or "").split():
            prefix = normalise_name(word)
            if not prefix:
                continue
            matches = OOSet()
            for indexed in self.by_name.keys(min=prefix, max=prefix + "\uffff"):
                found = self.by_name[indexed]
                matches = union(matches, found if not isinstance(found, ShardedSet) else OOSet(found.keys()))
            result = matches if result is None else intersection(result, matches)
        return result if result is not None else OOSet()

    def newest_name_keys(self, name: str, since: datetime.datetime | None = None,
                         until: datetime.datetime | None = None) -> Iterator[tuple]:
        """Keys of the requests whose indexed names start with each word typed, newest first, read lazily.

        The sets of the first word's prefix are merged newest first (``newest_keys``); each key is kept when
        every other word has a set holding it (a lookup each). Reading stops when the caller stops.
        """
        words = [prefix for prefix in (normalise_name(word) for word in (name or "").split()) if prefix]
        if not words:
            return
        sets = [[self.by_name[indexed] for indexed in self.by_name.keys(min=prefix, max=prefix + "\uffff")]
                for prefix in words]
        if not all(sets):
            return
        previous = None
        for key in heapq.merge(*(newest_keys(found, since, until) for found in sets[0]), reverse=True):
            if key == previous:  # a request under two names with the prefix ("martin", "martin dupont")
                continue
            previous = key
            if all(any(key in found for found in others) for others in sets[1:]):
                yield key

    # --- the staff's queue: newest first, one page at a time --------------------------------------------

    def _scopes(self, services: Iterable[str] | None, procedures: Iterable[str] | None,
                step: int | None) -> list[tuple]:
        """The disjoint queue scopes whose union answers the filters."""
        tail = (step,) if step is not None else ()
        if procedures is not None:
            wanted = set(procedures)
            allowed = set(services) if services is not None else None
            # the (service, procedure) pairs ever filed: the counters' keys, a few per procedure
            pairs = [scope[1:] for scope in self.queue_counts.keys(min=("p",), max=("p\x00",))
                     if len(scope) == 3 and scope[2] in wanted and (allowed is None or scope[1] in allowed)]
            return [("p",) + pair + tail for pair in pairs]
        if services is not None:
            return [("s", service) + tail for service in dict.fromkeys(services)]
        return [("t", step)] if step is not None else [ALL_SCOPE]

    def _listed_scopes(self, services: Iterable[str] | None, procedures: Iterable[str] | None,
                       step: int | None) -> list[tuple]:
        """The listed scopes (``listed_scope``) whose union answers the filters: each counted scope is the
        union of its steps' scopes, every request the union of the services' steps (read from the counters'
        keys: a few services, a few steps)."""
        steps = [step] if step is not None else [
            scope[1] for scope in self.queue_counts.keys(min=("t",), max=("t\x00",)) if len(scope) == 2]
        if procedures is None and services is None:
            services = [scope[1] for scope in self.queue_counts.keys(min=("s",), max=("s\x00",))
                        if len(scope) == 2]
        listed = []
        for scope in self._scopes(services, procedures, None):
            listed += [scope + (each,) for each in steps]
        return listed

    def queue_set(self, shard: int, create: bool = False):
        """The set holding the queue entries of ``shard`` (``queue`` for 0), created when asked."""
        if not shard:
            return self.queue
        return shard_part(self, "queue_by_shard", shard, OOTreeSet if create else None)

    def queue_sets(self) -> list:
        """Every set of queue entries: ``queue`` (before the shards), then each writer shard's."""
        return every_part(self.queue, self.queue_by_shard)

    def _scope_keys(self, scope: tuple, date_from: datetime.datetime | None,
                    date_to: datetime.datetime | None) -> list:
        """The ascending (newest first) range of ``scope`` between the dates in each set of the queue."""
        low = (scope, newest_first(date_to)) if date_to is not None else (scope,)
        high = (scope, newest_first(date_from), "\uffff") if date_from is not None else (scope, 1)
        return [queue.keys(min=low, max=high) for queue in self.queue_sets()]

    def queue_count(self, *, services: Iterable[str] | None = None, procedures: Iterable[str] | None = None,
                    step: int | None = None) -> int:
        """How many requests match, from the scopes' counters (no index is walked)."""
        if self.queue is None:  # a database not evolved yet
            return len(self.search(services=services, procedures=procedures, step=step))
        return sum(read_count(self.queue_counts, scope) for scope in self._scopes(services, procedures, step))

    def queue_page(self, *, services: Iterable[str] | None = None, procedures: Iterable[str] | None = None,
                   step: int | None = None, name: str | None = None,
                   date_from: datetime.datetime | None = None, date_to: datetime.datetime | None = None,
                   offset: int = 0, limit: int = 30) -> tuple[list[Submission], int | None, bool]:
        """One page of the requests matching the filters, newest first: ``(requests, total, more)``.

        ``None`` filters are not applied. Without a name, the page merges the scopes' ranges of ``queue``
        lazily: it reads ``offset + limit`` index keys and loads only the requests returned; the total comes
        from the counters, or is None with a date range (``more`` then says whether a next page exists). With a
        name, the candidates come from the name index (prefix search) and are checked against the scopes and
        dates by key, newest first, until the page and one more are found: the total is then None, and the
        cost follows the page (and how many of the name's requests the filters set aside), not the number of
        requests.
        """
        services = list(services) if services is not None else None
        if self.queue is None:  # a database not evolved yet: the older index intersections
            keys = list(reversed(list(self.search(services=services, procedures=procedures, step=step, name=name,
                                                  date_from=date_from, date_to=date_to).keys())))
            page = keys[offset:offset + limit]
            return [self.data[number] for _c, number in page], len(keys), offset + limit < len(keys)
        scopes = self._scopes(services, procedures, step)
        listed = self._listed_scopes(services, procedures, step)
        if name:
            found = []
            every = services is None and procedures is None and step is None
            queues = self.queue_sets()
            for created, number in self.newest_name_keys(name, date_from, date_to):
                stamp = newest_first(created)
                if every or any((scope, stamp, number) in queue for queue in queues for scope in listed):
                    found.append(number)
                    if len(found) > offset + limit:
                        break
            page = found[offset:offset + limit]
            return [self.data[number] for number in page], None, len(found) > offset + limit
        if date_from is None and date_to is None:
            total = sum(read_count(self.queue_counts, scope) for scope in scopes)
            entries = merged_page([keys for scope in listed for keys in self._scope_keys(scope, None, None)],
                                  offset, limit, key=lambda entry: entry[1:])
            return [self.data[number] for _s, _c, number in entries], total, offset + limit < total
        entries = merged_page([keys for scope in listed for keys in self._scope_keys(scope, date_from, date_to)],
                              offset, limit + 1, key=lambda entry: entry[1:])
        more = len(entries) > limit
        return [self.data[number] for _s, _c, number in entries[:limit]], None, more

    def build_queue(self) -> None:
        """Build ``queue`` and its counters for requests filed before them (reads each request once)."""
        self.queue = TimeIndex()
        self.queue_by_shard = OOBTree()
        self.queue_counts = ShardedCounts()
        batch = Batch(self, size=2000)
        for submission in self.data.values():
            self._enqueue(submission, queue_scopes(submission), 1)
            batch.tick()

    def use_time_indexes(self) -> None:
        """Convert the hot time-ordered sets of an older folder to ``TimeIndex``, keeping every key.

        Per-key sets no larger than an old leaf (a household's requests, a rare name) never split and are kept.
        """
        batch = Batch(self, size=1)  # ticked once per chunk of copied keys
        self.queue = convert_time_index(self.queue, batch)
        convert_time_indexes(self.by_name, batch, min_keys=OLD_LEAF_SIZE)

    def keep_listed_scopes(self, chunk: int = 20000) -> int:
        """Rebuild ``queue`` with the entries of the listed scopes only (the counters are unchanged): for a
        queue built when every scope had its entries. Returns how many entries were dropped."""
        if self.queue is None:
            return 0
        before = len(self.queue)
        self.queue = copy_in_chunks(TimeIndex(), self.queue.keys(), Batch(self, size=1), chunk,
                                    keep=lambda entry: listed_scope(entry[0]))
        return before - len(self.queue)

    def drop_old_indexes(self) -> bool:
        """Forget the indexes of the first releases (``queue`` answers every query they did); True if any."""
        found = False
        for name in OLD_INDEXES:
            if name in self.__dict__:
                delattr(self, name)
                found = True
        return found

    @staticmethod
    def _union(tree: OOBTree, codes: Iterable[str]) -> OOSet:
        result = OOSet()
        for code in codes:
            bucket = tree.get(code)
            if bucket:
                result = union(result, bucket)
        return result

    # --- anonymous rate limit -----------------------------------------------------------------------

    def count_recent(self, address: str, now: datetime.datetime) -> int:
        hour = int(now.timestamp() // 3600)
        counter = self.rate.get((hour, address))
        return counter() if counter is not None else 0

    def record_attempt(self, address: str, now: datetime.datetime) -> None:
        """Count one anonymous submission for ``address`` in the current hour; forget past hours."""
        hour = int(now.timestamp() // 3600)
        for key in list(self.rate.keys(max=(hour - 1, "\uffff")))[:200]:
            del self.rate[key]
        counter = self.rate.get((hour, address))
        if counter is None:
            counter = self.rate[(hour, address)] = Length()
        counter.change(1)


class Draft(Persistent):
    """A form being filled: what was typed on each page (peppercorn structures) and the files given.

    What was typed, which pages passed and the documents chosen live in the draft's own record (plain dicts,
    changed through the methods below, which mark the record changed): every page of the form reads and writes
    the draft, and separate mappings were four more objects to load and write on each page. Drafts created
    before keep their ``PersistentMapping`` attributes, which the same methods change.
    """

    __parent__ = None
    __name__ = None
    saved = False          # kept on purpose with "Enregistrer le brouillon"
    member_id = None

    def __init__(self, id: str, procedure_code: str, theme_code: str, owner: str, household_id: str | None,
                 expires: datetime.datetime):
        self.id = id
        self.procedure_code = procedure_code
        self.theme_code = theme_code
        self.owner = owner
        self.household_id = household_id
        self.created = self.updated = utcnow()
        self.expires = expires
        self.pages = {}        # page index -> pstruct typed
        self.valid = {}        # page index -> True when it passed validation
        self.attachments = {}  # document code -> Attachment
        self.paper = {}        # document code -> True ("Je l'apporterai au guichet")
        self.current = 0       # the page shown last

    def set_page(self, index: int, pstruct: dict, valid: bool) -> None:
        self.pages[index] = pstruct
        self.valid[index] = valid
        self._p_changed = True

    def set_valid(self, index: int, valid: bool) -> None:
        if self.valid.get(index) != valid:
            self.valid[index] = valid
            self._p_changed = True

    def attach(self, code: str, attachment) -> None:
        self.attachments[code] = attachment
        self._p_changed = True

    def detach(self, code: str) -> None:
        if code in self.attachments:
            del self.attachments[code]
            self._p_changed = True

    def set_paper(self, code: str, paper: bool) -> None:
        """Tick (or untick) "Je l'apporterai au guichet" for a document."""
        if paper and not self.paper.get(code):
            self.paper[code] = True
            self._p_changed = True
        elif not paper and code in self.paper:
            del self.paper[code]
            self._p_changed = True

    @property
    def furthest(self) -> int:
        """The furthest page the requester may open: the first one not yet validated."""
        index = 0
        while self.valid.get(index):
            index += 1
        return index


def new_draft_id() -> str:
    """A draft's id: the writer shard and time of ``ordered_id``, then 9 random bytes (in hex), so that nobody
    guesses another's draft (the owner is checked anyway)."""
    return ordered_id(9)


class DraftFolder(Folder):
    """Drafts by id (``new_draft_id``); an index per owner and an expiry index for purging. A draft whose request
    is sent leaves its owner's set at once and the folder when ``purge`` reaches its expiry (``close_draft``).

    The drafts are an ``IdTree``: each process adds the drafts it creates to a part of its own, at its end, in
    leaves of 30. Random ids in one tree of 250-key leaves spread the drafts being filled over every leaf: each
    new draft rewrote one, and every page of a form (often served by another process) read a leaf of 250 drafts
    that this process had not loaded yet or that another had changed since (evolve step
    ``core:0085-draft-parts`` keeps the drafts of before in the tree's ``base``).

    Every page of a form moves its draft's key in ``expiry`` to the end (a new expiry): in one set, the last
    leaf was shared by every form being filled in the city. ``expiry`` is a ``ShardedSet``
    (each process adds to its own part; evolve step ``core:0082-draft-expiry-shards`` for older folders).
    """

    def __init__(self):
        super().__init__()
        self.data = IdTree()          # a part per writer shard (``new_draft_id``)
        self.by_owner = OOBTree()     # owner -> OOTreeSet(draft ids)
        self.expiry = ShardedSet()    # (expires, draft id)

    def use_parted_trees(self) -> None:
        """The drafts of an older folder kept as the ``base`` of an ``IdTree`` (``resources.use_parted_trees``)."""
        self.data = parted(self.data, IdTree)

    def use_writer_shards(self) -> None:
        """The expiry index of an older folder as a ``ShardedSet`` keeping its keys (``resources.use_writer_shards``)."""
        self.expiry = sharded(self.expiry)

    def add_draft(self, draft: Draft) -> Draft:
        self.add(draft.id, draft)
        _bucket(self.by_owner, draft.owner, OOTreeSet).add(draft.id)
        self.expiry.add((draft.expires, draft.id))
        return draft

    def use_wide_trees(self, batch=None) -> None:
        """A large-leaf expiry index for an older folder (evolve step ``core:0077-wide-trees``): every draft
        sent or saved moves its key, and with small leaves the removals and additions often split or merge
        leaves at once in concurrent requests."""
        self.expiry = widen(self.expiry, batch)

    def set_expiry(self, draft: Draft, expires: datetime.datetime) -> None:
        self.expiry.discard((draft.expires, draft.id))
        draft.expires = expires
        self.expiry.add((expires, draft.id))

    def remove_draft(self, draft: Draft) -> None:
        """Remove a draft (discarded or expired). Its key in ``expiry`` is left for ``purge``, which drops the keys
        of drafts no longer there: the key is most often in the part of another process (the one that served the
        draft's last page), whose leaf removing the draft would otherwise rewrite."""
        self._disown(draft)
        self.remove(draft.id)

    def _disown(self, draft: Draft) -> None:
        """Take ``draft`` out of its owner's set: it can no longer be opened nor listed."""
        bucket = self.by_owner.get(draft.owner)
        if bucket is not None:
            bucket.discard(draft.id)

    def close_draft(self, draft: Draft, now: datetime.datetime, keep: datetime.timedelta) -> None:
        """The draft of a request just sent: out of its owner's set at once, so that it can no longer be opened
        (``is_open``) nor listed; ``purge`` removes it from the folder at its expiry, at most ``keep`` from ``now``
        (a draft kept longer, a saved one, has its expiry brought forward).

        Removing it from the folder here rewrote the folder's leaf of up to 250 drafts (the largest record a
        request wrote), which every other process then reloaded to read any draft of that leaf."""
        self._disown(draft)
        if draft.expires > now + keep:
            draft.expires = now + keep
            self.expiry.add((draft.expires, draft.id))  # the older key is dropped by ``purge``

    def is_open(self, draft: Draft) -> bool:
        """Whether ``draft`` may be opened: a draft sent is no longer in its owner's set (``close_draft``)."""
        bucket = self.by_owner.get(draft.owner)
        return bucket is not None and draft.id in bucket

    def for_owner(self, owner: str) -> Iterator[Draft]:
        for draft_id in self.by_owner.get(owner) or ():
            draft = self.get(draft_id)
            if draft is not None:
                yield draft

    def purge(self, now: datetime.datetime, limit: int = 100) -> int:
        """Remove expired drafts, and the keys left by drafts removed before, ``limit`` keys at most (so it can run
        at any request); return how many drafts were removed."""
        expired, removed = [], 0
        for key in self.expiry.keys():
            if key[0] >= now or len(expired) >= limit:
                break
            expired.append(key)
        for key in expired:
            draft = self.get(key[1])
            if draft is not None and draft.expires == key[0]:
                self.remove_draft(draft)
                removed += 1
            self.expiry.discard(key)
        return removed

    def has_expired(self, now: datetime.datetime) -> bool:
        """Whether ``purge`` has keys left to read at ``now``."""
        first = next(iter(self.expiry.keys()), None)
        return first is not None and first[0] < now
