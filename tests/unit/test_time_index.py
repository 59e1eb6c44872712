"""Time-ordered index sets have large leaves (fewer splits, so fewer unresolvable write conflicts), and the
evolve steps convert the sets of older databases keeping every key."""
import datetime
from unittest import mock

from BTrees.OOBTree import OOBTree, OOTreeSet, intersection
from ZODB import DB
from ZODB.MappingStorage import MappingStorage

from compte_citoyen.database import ROOT_KEY
from compte_citoyen.indexes import ShardedLength, ShardedSet, TimeIndex
from compte_citoyen.notification import use_large_outbox_buckets
from compte_citoyen.notification.models import Message, Outbox
from compte_citoyen.procedures import use_large_index_buckets
from compte_citoyen.procedures.models import SUBMISSIONS, Submission, SubmissionFolder
from compte_citoyen.resources import Portal

BASE = datetime.datetime(2026, 1, 5, 8, 0, tzinfo=datetime.timezone.utc)


def leaf_sizes(tree_set) -> list[int]:
    sizes, bucket = [], tree_set._firstbucket
    while bucket is not None:
        sizes.append(len(bucket))
        bucket = bucket._next
    return sizes


def time_keys(count: int) -> list[tuple]:
    return [(BASE + datetime.timedelta(seconds=i), f"D-2026-{i:06d}") for i in range(count)]


def test_time_index_keeps_more_keys_per_leaf():
    old, new = OOTreeSet(), TimeIndex()
    for key in time_keys(1000):  # appended in time order, as submissions are
        old.add(key)
        new.add(key)
    assert max(leaf_sizes(old)) <= 30
    assert len(leaf_sizes(old)) > 60
    assert max(leaf_sizes(new)) > 30
    assert len(leaf_sizes(new)) <= 8  # 1000 keys in leaves of 125..250
    assert list(new.keys()) == list(old.keys())
    # same set operations as before (the search intersects old and new sets alike)
    assert list(intersection(new, old).keys()) == list(old.keys())


def make_old_portal(conn, requests: int = 700, messages: int = 400) -> Portal:
    """A portal whose indexes are plain OOTreeSets, as in a database created before core:0075."""
    from compte_citoyen.procedures.models import _bucket
    with mock.patch("compte_citoyen.procedures.models.writer_shard", return_value=0), \
            mock.patch.object(SubmissionFolder, "_name_set", lambda folder, name: _bucket(folder.by_name, name)):
        return _make_old_portal(conn, requests, messages)  # as written before the shards


def make_submission(i: int, created: datetime.datetime | None = None) -> Submission:
    """The ``i``-th request of these tests: 2 services, 4 steps, 50 households (at minute ``i`` by default)."""
    submission = Submission(f"D-2026-{i:06d}", "etat-civil", "Acte", "famille", "etat-civil" if i % 3 else "ccas",
                            "received", 1 + i % 4, created=created or BASE + datetime.timedelta(minutes=i))
    submission.household_id = f"h{i % 50}"
    return submission


def make_message(i: int, created: datetime.datetime | None = None) -> Message:
    """The ``i``-th acknowledgement of these tests (at minute ``i`` by default)."""
    return Message(id=f"m{i:05d}", event_key=f"e{i}", kind="acknowledgement", channel="email", subject="Accusé",
                   text="Reçu", email="a@example.org", household_id=f"h{i % 50}",
                   created=created or BASE + datetime.timedelta(minutes=i))


def _make_old_portal(conn, requests: int, messages: int) -> Portal:
    portal = conn.root()[ROOT_KEY] = Portal()
    portal.counts, portal._num = None, ShardedLength()  # as before core:0084-shared-counters
    folder = portal.ensure_folder(SUBMISSIONS, SubmissionFolder)
    folder.queue = OOTreeSet()
    folder.queue_counts = OOBTree()  # a Length per scope, as before ``ShardedCounts``
    for i in range(requests):
        submission = make_submission(i)
        if submission.household_id not in folder.by_household:
            folder.by_household[submission.household_id] = OOTreeSet()  # what the old _bucket created
        folder.by_name["martin"] = folder.by_name.get("martin") or OOTreeSet()
        folder.by_name["rare"] = folder.by_name.get("rare") or OOTreeSet()
        folder.add_submission(submission, names=["Martin"] if i % 2 else [])
    folder.by_name["rare"].add(folder["D-2026-000000"].key)
    outbox = portal.ensure_folder("outbox", Outbox)
    outbox.due = OOTreeSet()
    outbox.by_state["queued"] = OOTreeSet()
    for i in range(messages):
        message = make_message(i)
        outbox.add(message.id, message)
        outbox.index(message)
    return portal


def snapshot(portal) -> dict:
    folder, outbox = portal[SUBMISSIONS], portal["outbox"]
    out = {"queue": list(folder.queue.keys()),
           "due": list(outbox.due.keys())}
    for name in ("by_name", "by_household"):
        for key, value in getattr(folder, name).items():
            out[(name, key)] = list(value.keys())
    for key, value in outbox.by_state.items():
        out[("by_state", key)] = list(value.keys())
    return out


def test_evolve_steps_convert_old_sets_keeping_every_key():
    db = DB(MappingStorage())
    try:
        with db.transaction() as conn:
            portal = make_old_portal(conn)
            assert type(portal[SUBMISSIONS].queue) is OOTreeSet
            before = snapshot(portal)
        with db.transaction() as conn:
            portal = conn.root()[ROOT_KEY]
            use_large_index_buckets(portal, None)
            use_large_outbox_buckets(portal, None)
        with db.transaction() as conn:
            portal = conn.root()[ROOT_KEY]
            folder, outbox = portal[SUBMISSIONS], portal["outbox"]
            assert snapshot(portal) == before  # every key kept, same order
            for index in [folder.queue, outbox.due, folder.by_name["martin"],
                          outbox.by_state["queued"]]:
                assert type(index) is TimeIndex
            assert max(leaf_sizes(folder.queue)) > 30
            # small per-key sets never split: kept as they were
            assert type(folder.by_name["rare"]) is OOTreeSet
            assert type(folder.by_household["h1"]) is OOTreeSet
            # readers and writers work on the converted folder; a household's new set has the standard leaves
            rows, total, _more = folder.queue_page(services=["ccas"], step=1, limit=500)
            assert rows and total == len(rows) and all(s.service == "ccas" and s.step == 1 for s in rows)
            new = Submission("D-2026-999999", "etat-civil", "Acte", "famille", "urbanisme", "received", 1,
                             created=BASE + datetime.timedelta(days=30))
            new.household_id = "h-new"
            folder.add_submission(new, names=["Zoé"])
            assert type(folder.by_name["zoe"]) is ShardedSet
            assert type(folder.by_household["h-new"]) is OOTreeSet
            page, total, _more = folder.queue_page(limit=5)
            assert page[0].number == "D-2026-999999" and total == 701
            # a second run changes nothing
            use_large_index_buckets(portal, None)
            use_large_outbox_buckets(portal, None)
            # a service's step and a procedure's step; the new request's in its process's set
            assert len(folder.queue) == 700 * 2 and len(folder.queue_set(new.queue_shard)) == 2
    finally:
        db.close()


def test_new_folders_use_time_indexes():
    folder, outbox = SubmissionFolder(), Outbox()
    assert type(folder.queue) is TimeIndex
    assert type(outbox.due) is ShardedSet and outbox.by_created is None  # the list of every message merges states
    assert isinstance(folder.by_name, OOBTree) and folder.by_service is None  # replaced by the queue


# --- reading newest first without walking the whole set ------------------------------------------------

def spread_keys(count: int, seed: int = 3) -> list[tuple]:
    """``count`` keys at random moments over two years, with a few sharing the same moment."""
    import random
    rng = random.Random(seed)
    moments = [BASE - datetime.timedelta(seconds=rng.randint(0, 2 * 365 * 86400)) for _ in range(count)]
    moments += moments[:20]  # ties: same moment, other numbers
    return [(moment, f"D-{i:07d}") for i, moment in enumerate(moments)]


def test_newest_keys_is_the_reverse_order_with_bounds():
    from compte_citoyen.indexes import newest_keys
    keys = spread_keys(3000)
    index = TimeIndex()
    index.update(keys)
    expected = sorted(keys, reverse=True)
    assert list(newest_keys(index)) == expected
    since, until = BASE - datetime.timedelta(days=400), BASE - datetime.timedelta(days=30)
    assert list(newest_keys(index, since, until)) == [k for k in expected if since <= k[0] <= until]
    assert list(newest_keys(index, since=expected[0][0])) == [k for k in expected if k[0] == expected[0][0]]
    assert list(newest_keys(index, until=expected[-1][0])) == [k for k in expected if k[0] == expected[-1][0]]
    assert list(newest_keys(index, until=BASE - datetime.timedelta(days=3000))) == []
    assert list(newest_keys(index, since=BASE + datetime.timedelta(days=1))) == []
    assert list(newest_keys(TimeIndex())) == []
    small = OOTreeSet(keys[:10])  # older plain sets are read the same way
    assert list(newest_keys(small)) == sorted(keys[:10], reverse=True)


def test_newest_keys_loads_only_the_newest_leaves():
    """A page of the newest keys of a large set loads a few leaves, not every leaf (a backward read would)."""
    from itertools import islice
    from unittest import mock

    from ZODB.Connection import Connection

    from compte_citoyen.indexes import newest_keys
    db = DB(MappingStorage())
    try:
        with db.transaction() as conn:
            index = conn.root()["index"] = TimeIndex()
            index.update(spread_keys(40_000))
        with db.transaction() as conn:
            index = conn.root()["index"]
            leaves = len(leaf_sizes(index))
            assert leaves > 160
            conn.cacheMinimize()
            loads = []
            original = Connection.setstate

            def setstate(self, obj):
                loads.append(type(obj).__name__)
                return original(self, obj)

            with mock.patch.object(Connection, "setstate", setstate):
                page = list(islice(newest_keys(index), 31))
            assert page == sorted(index.keys(), reverse=True)[:31]
            assert loads.count("OOSet") <= 4, loads
    finally:
        db.close()


def test_name_search_walks_newest_first_and_checks_every_word():
    folder = SubmissionFolder()
    for i in range(600):
        submission = Submission(f"D-2026-{i:06d}", "etat-civil", "Acte", "famille", "etat-civil", "received", 1,
                                created=BASE + datetime.timedelta(hours=i))
        names = [("Martin Dupont", "Martine Durand", "Bernard Martinez")[i % 3]]
        folder.add_submission(submission, names=names)
    newest = [f"D-2026-{i:06d}" for i in range(599, -1, -1)]
    # "mart": every request, once each, although most are under two names starting with it
    assert [number for _c, number in folder.newest_name_keys("mart")] == newest
    assert [number for _c, number in folder.newest_name_keys("martin du")] == [
        n for n in newest if int(n[-6:]) % 3 in (0, 1)]
    assert [number for _c, number in folder.newest_name_keys("Dupont MARTIN")] == [
        n for n in newest if int(n[-6:]) % 3 == 0]
    assert list(folder.newest_name_keys("martin zola")) == [] and list(folder.newest_name_keys("  ")) == []
    rows, total, more = folder.queue_page(name="bernard", limit=10)
    assert [s.number for s in rows] == [n for n in newest if int(n[-6:]) % 3 == 2][:10] and total is None and more


# --- large leaves for the mappings every request writes to ----------------------------------------------

def test_wide_trees_split_seldom_and_keep_the_api():
    from BTrees.LOBTree import LOBTree

    from compte_citoyen.indexes import WideLOBTree, WideOOBTree, widen
    from compte_citoyen.resources import Folder
    old, wide = OOBTree(), WideOOBTree()
    for i in range(2000):  # readable numbers: every addition lands in the last leaf
        old[f"2026-{i:06d}"] = i
        wide[f"2026-{i:06d}"] = i
    assert max(leaf_sizes(old)) <= 30 and max(leaf_sizes(wide)) > 120
    assert len(leaf_sizes(wide)) * 5 < len(leaf_sizes(old))
    assert list(wide.items()) == list(old.items())
    assert type(Folder().data) is WideOOBTree
    converted = widen(old)
    assert type(converted) is WideOOBTree and list(converted.items()) == list(old.items())
    assert widen(converted) is converted and widen(None) is None
    times = LOBTree({i: str(i) for i in range(500)})
    assert type(widen(times)) is WideLOBTree and list(widen(times).items()) == list(times.items())
    keys = OOTreeSet(time_keys(100))
    assert type(widen(keys)) is TimeIndex and list(widen(keys)) == list(keys)


def test_evolve_step_widens_the_trees_of_an_older_database():
    from BTrees.LLBTree import LLTreeSet
    from BTrees.LOBTree import LOBTree

    from compte_citoyen.backoffice.models import Journal
    from compte_citoyen.indexes import WideLOBTree, WideOOBTree
    from compte_citoyen.procedures.models import DRAFTS, DraftFolder, Draft
    from compte_citoyen.resources import use_wide_trees
    db = DB(MappingStorage())
    try:
        with db.transaction() as conn:
            portal = make_old_portal(conn, requests=300, messages=300)
            journal = portal.ensure_folder("journal", Journal)
            drafts = portal.ensure_folder(DRAFTS, DraftFolder)
            for folder in (portal[SUBMISSIONS], portal["outbox"], journal, drafts):  # as stored before
                folder.data = OOBTree(folder.data)
            journal.entries, journal.by_target = LOBTree(), OOBTree()
            portal["outbox"].event_keys = OOBTree(portal["outbox"].event_keys)
            portal["outbox"].by_request = OOBTree()
            drafts.expiry = OOTreeSet()
            for i in range(100):
                journal.record("agent", "request.viewed", f"request:D-2026-{i:06d}")
                drafts.add_draft(Draft(f"d{i:03d}", "etat-civil", "famille", "household:h1", "h1",
                                       BASE + datetime.timedelta(days=i)))
            assert type(journal.by_target["request:D-2026-000001"]) is LLTreeSet
            before = {name: list(folder.items()) for name, folder in portal.items()}
            entries, targets = list(journal.entries.items()), list(journal.by_target.keys())
            expiry, events = list(drafts.expiry), list(portal["outbox"].event_keys.items())
        with db.transaction() as conn:
            use_wide_trees(conn.root()[ROOT_KEY], None)
        with db.transaction() as conn:
            portal = conn.root()[ROOT_KEY]
            journal, drafts, outbox = portal["journal"], portal[DRAFTS], portal["outbox"]
            for name in (SUBMISSIONS, "outbox", "journal", DRAFTS):
                assert type(portal[name].data) is WideOOBTree
            assert {name: list(folder.items()) for name, folder in portal.items()} == before
            assert type(journal.entries) is WideLOBTree and list(journal.entries.items()) == entries
            assert type(journal.by_target) is WideOOBTree and list(journal.by_target.keys()) == targets
            assert type(drafts.expiry) is TimeIndex and list(drafts.expiry) == expiry
            assert type(outbox.event_keys) is WideOOBTree and list(outbox.event_keys.items()) == events
            assert type(outbox.by_request) is WideOOBTree
            assert len(journal.for_target("request:D-2026-000007")) == 1 and drafts.purge(BASE + datetime.timedelta(hours=1), limit=5) == 1
            use_wide_trees(portal, None)  # a second run changes nothing
            assert type(portal[SUBMISSIONS].data) is WideOOBTree
    finally:
        db.close()


def test_evolve_step_drops_the_first_request_indexes():
    """The indexes of the first releases are no longer written (the queue answers every query): the evolve step
    forgets them; until it runs, ``search`` reads them for a database not evolved yet."""
    from compte_citoyen.procedures import drop_old_request_indexes
    db = DB(MappingStorage())
    try:
        with db.transaction() as conn:
            portal = make_old_portal(conn, requests=40, messages=0)
            folder = portal[SUBMISSIONS]
            folder.by_date = OOTreeSet(s.key for s in folder.values())
            folder.by_service, folder.by_step = OOBTree(), OOBTree()
            folder.by_status, folder.by_procedure = OOBTree(), OOBTree()
            for submission in folder.values():
                folder.by_service.setdefault(submission.service, OOTreeSet()).add(submission.key)
            assert [n for _c, n in folder.search(services=["ccas"])] == [
                s.number for s in folder.values() if s.service == "ccas"]
        with db.transaction() as conn:
            drop_old_request_indexes(conn.root()[ROOT_KEY], None)
        with db.transaction() as conn:
            folder = conn.root()[ROOT_KEY][SUBMISSIONS]
            assert not {"by_service", "by_step", "by_status", "by_procedure", "by_date"} & set(folder.__dict__)
            assert folder.by_date is None and len(folder.search(services=["ccas"])) == 0
            assert folder.queue_count(services=["ccas"]) == 14 and len(folder) == 40
            assert folder.drop_old_indexes() is False
    finally:
        db.close()


def test_queue_lists_the_finest_scopes_and_merges_the_others():
    """A submission writes two queue entries (its service's step, its procedure's step); every other list is
    their merge, newest first, with the counts of every scope. The evolve step drops the entries an older
    queue held for the other scopes."""
    from compte_citoyen.procedures import keep_listed_queue_scopes
    from compte_citoyen.procedures.models import listed_scope, queue_scopes
    from compte_citoyen.indexes import newest_first
    db = DB(MappingStorage())
    try:
        with db.transaction() as conn:
            portal = make_old_portal(conn, requests=120, messages=0)
            folder = portal[SUBMISSIONS]
            assert len(folder.queue) == 120 * 2
            for submission in folder.values():  # as an older release wrote it: an entry for every scope
                for scope in queue_scopes(submission):
                    folder.queue.add((scope, newest_first(submission.created), submission.number))
            assert len(folder.queue) == 120 * 6
        with db.transaction() as conn:
            keep_listed_queue_scopes(conn.root()[ROOT_KEY], None)
        with db.transaction() as conn:
            folder = conn.root()[ROOT_KEY][SUBMISSIONS]
            assert len(folder.queue) == 120 * 2 and all(listed_scope(entry[0]) for entry in folder.queue)
            newest = sorted(folder.values(), key=lambda s: s.created, reverse=True)
            rows, total, more = folder.queue_page(limit=25, offset=10)
            assert [s.number for s in rows] == [s.number for s in newest][10:35] and total == 120 and more
            rows, total, _more = folder.queue_page(step=2, limit=100)
            assert [s.number for s in rows] == [s.number for s in newest if s.step == 2] and total == 30
            rows, total, _more = folder.queue_page(services=["ccas"], limit=100)
            assert [s.number for s in rows] == [s.number for s in newest if s.service == "ccas"] and total == 40
            rows, _total, more = folder.queue_page(step=3, name="martin", limit=100)
            assert [s.number for s in rows] == [s.number for s in newest if s.step == 3 and int(s.number[-3:]) % 2]
            # a status change moves the two entries and the step's counts
            moved = next(s for s in newest if s.step == 1)
            folder.set_status(moved, "done", 4)
            assert moved in folder.queue_page(step=4, limit=100)[0] and folder.queue_count(step=4) == 31
            assert moved not in folder.queue_page(step=1, limit=100)[0] and folder.queue_count(step=1) == 29
            assert len(folder.queue) == 120 * 2 and folder.queue_count() == 120
    finally:
        db.close()


def test_every_message_listed_from_the_state_sets():
    """The list of every message merges the per-state sets, newest first, with the cursor of the next page; the
    index of every message of the first releases is forgotten by an evolve step."""
    from compte_citoyen.notification import drop_outbox_by_created
    from compte_citoyen.notification.models import FAILED, SENT
    db = DB(MappingStorage())
    try:
        with db.transaction() as conn:
            portal = make_old_portal(conn, requests=1, messages=90)
            outbox = portal["outbox"]
            for i, message in enumerate(sorted(outbox.values(), key=lambda m: m.created)):
                if i % 3 == 1:
                    outbox.set_state(message, SENT)
                elif i % 3 == 2:
                    outbox.set_state(message, FAILED)
            outbox.by_created = OOTreeSet()  # as stored by the first releases
        with db.transaction() as conn:
            drop_outbox_by_created(conn.root()[ROOT_KEY], None)
        with db.transaction() as conn:
            outbox = conn.root()[ROOT_KEY]["outbox"]
            assert "by_created" not in outbox.__dict__ and outbox.by_created is None
            newest = [m.id for m in sorted(outbox.values(), key=lambda m: m.created, reverse=True)]
            first, cursor = outbox.page(limit=40)
            second, cursor2 = outbox.page(after=cursor, limit=40)
            third, cursor3 = outbox.page(after=cursor2, limit=40)
            assert [m.id for m in first + second + third] == newest and cursor3 is None
            assert [m.id for m in outbox.page(SENT, limit=100)[0]] == [
                m for m in newest if outbox[m].state == SENT]
            assert outbox.page("unknown") == ([], None)
    finally:
        db.close()


def test_queue_merges_the_writer_shards_and_the_entries_written_before_them():
    """Requests filed by different processes go to their process's shard of the queue, after requests filed
    before the shards: every list merges them newest first, counts, name search, date ranges and status
    changes included."""
    from compte_citoyen.procedures.models import queue_entry
    db = DB(MappingStorage())
    try:
        with db.transaction() as conn:
            portal = make_old_portal(conn, requests=90, messages=0)  # entries without a shard
            folder = portal[SUBMISSIONS]
            assert all(len(entry) == 3 for entry in folder.queue)
            for i in range(90, 180):  # filed afterwards by three worker processes, interleaved in time
                submission = make_submission(i, BASE - datetime.timedelta(minutes=i) if i % 5 == 0 else None)
                with mock.patch("compte_citoyen.procedures.models.writer_shard", return_value=1 + (i // 7) % 3):
                    folder.add_submission(submission, names=["Martin"] if i % 2 else [])
                assert submission.queue_shard == 1 + (i // 7) % 3
                entry = queue_entry(submission, ("s", submission.service, submission.step))
                assert entry in folder.queue_set(submission.queue_shard) and entry not in folder.queue
        with db.transaction() as conn:
            folder = conn.root()[ROOT_KEY][SUBMISSIONS]
            assert len(folder.queue) == 90 * 2 and list(folder.queue_by_shard.keys()) == [1, 2, 3]
            assert sum(len(queue) for queue in folder.queue_sets()) == 180 * 2
            newest = sorted(folder.values(), key=lambda s: (s.created, s.number), reverse=True)
            rows, total, more = folder.queue_page(limit=40, offset=30)
            assert [s.number for s in rows] == [s.number for s in newest][30:70] and total == 180 and more
            rows, total, _more = folder.queue_page(step=2, services=["etat-civil"], limit=200)
            assert [s.number for s in rows] == [s.number for s in newest if s.step == 2
                                                and s.service == "etat-civil"]
            rows, _total, _more = folder.queue_page(step=3, name="martin", limit=200)
            assert [s.number for s in rows] == [s.number for s in newest if s.step == 3 and int(s.number[-3:]) % 2]
            since, until = BASE + datetime.timedelta(minutes=40), BASE + datetime.timedelta(minutes=130)
            rows, total, _more = folder.queue_page(date_from=since, date_to=until, limit=200)
            assert total is None
            assert [s.number for s in rows] == [s.number for s in newest if since <= s.created <= until]
            for moved in (next(s for s in newest if s.step == 1 and s.queue_shard),
                          next(s for s in newest if s.step == 1 and not s.queue_shard)):
                folder.set_status(moved, "done", 4)
                assert moved in folder.queue_page(step=4, limit=200)[0]
                assert moved not in folder.queue_page(step=1, limit=200)[0]
                assert queue_entry(moved, ("s", moved.service, 4)) in folder.queue_set(moved.queue_shard)
            assert sum(len(queue) for queue in folder.queue_sets()) == 180 * 2 and folder.queue_count() == 180
            assert folder.queue_count(step=4) == len(folder.queue_page(step=4, limit=200)[0])
    finally:
        db.close()


def test_journal_merges_the_writer_shards_newest_first():
    """Journal entries written before the shards (bare time stamps) and by several processes are read back most
    recent first, all of them and per target."""
    from compte_citoyen.backoffice.models import Journal
    from compte_citoyen.indexes import micros
    db = DB(MappingStorage())
    clock = [BASE]

    class Clock(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            clock[0] += datetime.timedelta(seconds=1)
            return clock[0]

    try:
        with db.transaction() as conn:
            journal = conn.root()["journal"] = Journal()
            with mock.patch("compte_citoyen.backoffice.models.datetime.datetime", Clock):
                for i in range(30):
                    with mock.patch("compte_citoyen.backoffice.models.writer_shard", return_value=0 if i < 10
                                    else 1 + i % 4):
                        journal.record("agent", f"action-{i}", f"request:{i % 3}")
            assert all(key == micros(journal.entries[key].when) for key in journal.entries)  # before the shards
            assert len(journal.entries) == 10 and list(journal.entries_by_shard.keys()) == [1, 2, 3, 4]
            for shard, tree in journal.entries_by_shard.items():  # each process appends to its own tree
                assert all(key >> 52 == shard for key in tree) and len(tree) == 5
        with db.transaction() as conn:
            journal = conn.root()["journal"]
            assert [e.action for e in journal.latest(limit=12, offset=3)] == [f"action-{i}" for i in range(26, 14, -1)]
            assert [e.action for e in journal.latest(limit=100)] == [f"action-{i}" for i in range(29, -1, -1)]
            assert [e.action for e in journal.for_target("request:1", limit=4, offset=1)] == [
                f"action-{i}" for i in (25, 22, 19, 16)]
    finally:
        db.close()


def test_sharded_set_reads_like_one_sorted_set():
    """Each process adds to its own set; reading merges them with the keys of an older set, in key order."""
    legacy = TimeIndex()
    legacy.update(time_keys(40)[::2])
    sets = ShardedSet(legacy=legacy)
    for i, key in enumerate(time_keys(40)[1::2]):
        with mock.patch("compte_citoyen.indexes.writer_shard", return_value=1 + i % 3):
            assert sets.add(key) == 1
    with mock.patch("compte_citoyen.indexes.writer_shard", return_value=2):
        assert sets.add(time_keys(40)[0]) == 0  # already there (older set)
    keys = time_keys(40)
    assert list(sets.keys()) == keys and list(sets) == keys and len(sets) == 40 and sets
    assert list(sets.shards.keys()) == [1, 2, 3] and all(len(tree) < 10 for tree in sets.shards.values())
    assert list(sets.keys(min=keys[5], max=keys[9], excludemin=True)) == keys[6:10]
    assert sets.minKey() == keys[0] and sets.maxKey() == keys[-1] and sets.maxKey(keys[7]) == keys[7]
    assert sets.minKey((keys[7][0] + datetime.timedelta(microseconds=1),)) == keys[8]
    assert keys[3] in sets and keys[4] in sets
    sets.remove(keys[3])  # wherever it is
    sets.discard(keys[4])
    sets.discard(keys[4])
    assert keys[3] not in sets and len(sets) == 38
    try:
        sets.remove(keys[3])
    except KeyError:
        pass
    else:
        raise AssertionError("remove of a missing key")
    empty = ShardedSet()
    assert not empty and len(empty) == 0 and list(empty.keys()) == []
    try:
        empty.maxKey()
    except ValueError:
        pass
    else:
        raise AssertionError("maxKey of an empty set")


def test_outbox_sets_sharded_by_process_and_converted_without_copy():
    """The evolve step keeps an older outbox's due and per-state sets as they are, inside ``ShardedSet``; the
    messages queued afterwards by several processes are listed and delivered with them in order."""
    from compte_citoyen.resources import use_writer_shards
    from compte_citoyen.notification.models import SENT
    db = DB(MappingStorage())
    try:
        with db.transaction() as conn:
            portal = make_old_portal(conn, requests=1, messages=60)
            outbox = portal["outbox"]
            old_due, old_queued = outbox.due, outbox.by_state["queued"]
            assert type(old_due) is OOTreeSet
        with db.transaction() as conn:
            use_writer_shards(conn.root()[ROOT_KEY], None)
        with db.transaction() as conn:
            outbox = conn.root()[ROOT_KEY]["outbox"]
            assert type(outbox.due) is ShardedSet and outbox.due.legacy._p_oid == old_due._p_oid
            assert type(outbox.by_state["queued"]) is ShardedSet and len(outbox.by_state["queued"]) == 60
            for i in range(60, 90):
                message = make_message(i, BASE + datetime.timedelta(minutes=i - 45, seconds=30))  # interleaved
                with mock.patch("compte_citoyen.indexes.writer_shard", return_value=1 + i % 4):
                    outbox.add(message.id, message)
                    outbox.index(message)
            assert len(outbox.due.legacy) == 60 and list(outbox.due.shards.keys()) == [1, 2, 3, 4]
            by_age = sorted(outbox.values(), key=lambda m: (m.created, m.id))
            assert outbox.due_ids(BASE + datetime.timedelta(days=1)) == [m.id for m in by_age]
            assert outbox.count("queued") == 90
            page, cursor = outbox.page("queued", limit=50)
            rest, end = outbox.page("queued", after=cursor, limit=50)
            assert [m.id for m in page + rest] == [m.id for m in reversed(by_age)] and end is None
            for message in by_age[40:50]:  # older and newer messages sent, wherever their keys are
                outbox.set_state(message, SENT)
            assert outbox.count("queued") == 80 and len(outbox.by_state["queued"]) == 80
            assert [m.id for m in outbox.page(SENT, limit=20)[0]] == [m.id for m in reversed(by_age[40:50])]
            assert outbox.due_ids(BASE + datetime.timedelta(days=1)) == [m.id for m in by_age[:40] + by_age[50:]]
            use_writer_shards(conn.root()[ROOT_KEY], None)  # a second run changes nothing
            assert outbox.due.legacy._p_oid == old_due._p_oid
    finally:
        db.close()


def shared_leaf_rate(tree_class, block: int, processes: int = 4, turns: int = 4000) -> float:
    """How often a request's number lands in a leaf holding the latest number of another process, when
    ``processes`` file requests in turn, each numbering from its own blocks of ``block``."""
    tree = tree_class()
    for i in range(200):  # older requests
        tree[f"2026-{i:06d}"] = -1
    next_block, pools, latest, shared, counted = 200, {}, {}, 0, 0
    for turn in range(turns):
        process = turn % processes
        pool = pools.get(process)
        if pool is None or pool[0] >= pool[1]:
            pool = pools[process] = [next_block, next_block + block]
            next_block += block
        key = latest[process] = f"2026-{pool[0]:06d}"
        pool[0] += 1
        tree[key] = process
        if turn < 1000:
            continue
        bucket = tree._firstbucket
        while bucket.maxKey() < key:
            bucket = bucket._next
        low, high = bucket.minKey(), bucket.maxKey()
        counted += 1
        shared += any(low <= other <= high for owner, other in latest.items() if owner != process)
    return shared / counted


def test_number_blocks_give_each_process_leaves_of_its_own():
    """Four processes filing requests at the same time, each numbering from its own block: most of the time a
    process writes a leaf of the trees keyed by number that no other process is writing (with the former
    250-key leaves and blocks of 20, every request wrote the same last leaf)."""
    from compte_citoyen.indexes import WideOOBTree
    from compte_citoyen.resources import NUMBER_BLOCK

    class FormerWideOOBTree(OOBTree):
        max_leaf_size = 250
        max_internal_size = 500

    assert shared_leaf_rate(FormerWideOOBTree, 20) == 1.0
    assert shared_leaf_rate(WideOOBTree, NUMBER_BLOCK) < 0.25


def test_sharded_counters_sum_each_process_counter_and_keep_the_older_one():
    """Each process changes its own ``Length``; the counter is their sum. The evolve step wraps the counters of
    an older database (every folder's count, the queue's and the outbox's counts) without recounting."""
    from BTrees.Length import Length

    from compte_citoyen.indexes import ShardedLength, change_count, read_count
    from compte_citoyen.resources import use_writer_shards
    counter = ShardedLength(legacy=Length(10))
    for shard in (1, 2, 2, 3):
        with mock.patch("compte_citoyen.indexes.writer_shard", return_value=shard):
            counter.change(5)
    assert counter() == 30 and list(counter.shards.keys()) == [1, 2, 3] and counter.shards[2]() == 10
    with mock.patch("compte_citoyen.indexes.writer_shard", return_value=4):
        counter.set(7)
    assert counter() == 7
    db = DB(MappingStorage())
    try:
        with db.transaction() as conn:
            portal = make_old_portal(conn, requests=40, messages=10)
            folder, outbox = portal[SUBMISSIONS], portal["outbox"]
            folder._num = Length(len(folder.data))  # as stored before the shards
            for counts in (folder.queue_counts, outbox.state_counts):
                for key in list(counts.keys()):
                    counts[key] = Length(counts[key]())
            before = (len(folder), folder.queue_count(), folder.queue_count(step=2), outbox.count("queued"))
        with db.transaction() as conn:
            use_writer_shards(conn.root()[ROOT_KEY], None)
        with db.transaction() as conn:
            portal = conn.root()[ROOT_KEY]
            folder, outbox = portal[SUBMISSIONS], portal["outbox"]
            assert type(folder._num) is ShardedLength and type(folder._num.legacy) is Length
            assert all(type(value) is ShardedLength for value in folder.queue_counts.values())
            assert (len(folder), folder.queue_count(), folder.queue_count(step=2), outbox.count("queued")) == before
            change_count(folder.queue_counts, ("t", 2), 1)
            assert read_count(folder.queue_counts, ("t", 2)) == before[2] + 1
            use_writer_shards(portal, None)  # a second run changes nothing
            assert type(folder._num.legacy) is Length
    finally:
        db.close()


def test_one_record_per_process_for_all_its_queue_counters(tmp_path):
    """A request changes several counters of the queue (every request, its step, its service...): each process
    keeps all of them in one ``CountBank``. The older counters stay inside (evolve step
    ``core:0083-parted-trees``), and two processes of the same shard changing a bank at once both count."""
    import transaction
    from ZODB.FileStorage import FileStorage

    from compte_citoyen.indexes import CountBank, ShardedCounts, ShardedLength
    from compte_citoyen.resources import use_parted_trees, use_writer_shards
    db = DB(FileStorage(str(tmp_path / "Data.fs")))
    try:
        with db.transaction() as conn:
            portal = make_old_portal(conn, requests=40, messages=10)
            before = {step: portal[SUBMISSIONS].queue_count(step=step) for step in (None, 1, 2, 3, 4)}
            services = portal[SUBMISSIONS].queue_count(services=["ccas"])
        with db.transaction() as conn:
            use_writer_shards(conn.root()[ROOT_KEY], None)
            use_parted_trees(conn.root()[ROOT_KEY], None)
        with db.transaction() as conn:
            folder = conn.root()[ROOT_KEY][SUBMISSIONS]
            assert type(folder.queue_counts) is ShardedCounts and type(folder.queue_counts.legacy) is OOBTree
            assert {step: folder.queue_count(step=step) for step in before} == before
            for i in range(40, 60):
                with mock.patch("compte_citoyen.indexes.writer_shard", return_value=1 + i % 2):
                    folder.add_submission(make_submission(i))
            assert list(folder.queue_counts.shards.keys()) == [1, 2]
            assert all(type(bank) is CountBank for bank in folder.queue_counts.shards.values())
            assert folder.queue_count() == before[None] + 20 and folder.queue_count(step=1) == before[1] + 5
            assert folder.queue_count(services=["ccas"]) == services + 6  # 42, 45 ... 57
            assert folder.queue_counts.keys() == sorted(set(folder.queue_counts.legacy.keys()))
            assert folder.queue_counts.keys(min=("t",), max=("t\x00",)) == [("t", step) for step in (1, 2, 3, 4)]
        # two transactions of the same shard at once: both changes count
        tm_a, tm_b = transaction.TransactionManager(), transaction.TransactionManager()
        conn_a, conn_b = db.open(transaction_manager=tm_a), db.open(transaction_manager=tm_b)
        with mock.patch("compte_citoyen.indexes.writer_shard", return_value=1):
            conn_a.root()[ROOT_KEY][SUBMISSIONS].queue_counts.change(("t", 1), 3)
            conn_b.root()[ROOT_KEY][SUBMISSIONS].queue_counts.change(("t", 1), -1)
            conn_b.root()[ROOT_KEY][SUBMISSIONS].queue_counts.change(("t", 9), 1)
        tm_a.commit()
        tm_b.commit()  # a conflict on the bank, resolved by adding the changes
        conn_a.close()
        conn_b.close()
        with db.transaction() as conn:
            counts = conn.root()[ROOT_KEY][SUBMISSIONS].queue_counts
            assert counts.count(("t", 1)) == before[1] + 5 + 2 and counts.count(("t", 9)) == 1
            assert counts.count(("nothing",)) == 0
            assert isinstance(counts.legacy[("t", 1)], ShardedLength)
    finally:
        db.close()


def test_every_counter_of_a_process_in_one_bank_of_the_portal():
    """The item counts of the folders and their counters by scope or state live in ``Portal.counts``: a request
    filed with its acknowledgement changes one ``CountBank`` of its process, and no ``Length``. The evolve step
    ``core:0084-shared-counters`` keeps the counters of an older database inside the new ones (nothing recounted),
    and a folder added later shares them at once."""
    from BTrees.Length import Length

    from compte_citoyen.indexes import CountBank, SharedCounter, SharedCounts
    from compte_citoyen.resources import Folder, use_parted_trees, use_shared_counts, use_writer_shards
    db = DB(MappingStorage())
    try:
        with db.transaction() as conn:
            portal = make_old_portal(conn, requests=40, messages=10)
            before = {step: portal[SUBMISSIONS].queue_count(step=step) for step in (None, 1, 2, 3, 4)}
            counts = (len(portal[SUBMISSIONS]), len(portal["outbox"]), portal["outbox"].count("queued"))
        with db.transaction() as conn:
            portal = conn.root()[ROOT_KEY]
            for step in (use_writer_shards, use_parted_trees, use_shared_counts):
                step(portal, None)
        with db.transaction() as conn:
            portal = conn.root()[ROOT_KEY]
            folder, outbox = portal[SUBMISSIONS], portal["outbox"]
            assert type(folder._num) is SharedCounter and folder._num.shared is portal.counts
            assert type(folder.queue_counts) is SharedCounts and type(outbox.state_counts) is SharedCounts
            assert (len(folder), len(outbox), outbox.count("queued")) == counts
            assert {step: folder.queue_count(step=step) for step in before} == before
            assert use_shared_counts(portal, None) is None and folder.queue_counts.legacy is not None  # once
        for i in (40, 41):  # the first creates the process's bank and parts, the second writes them
            with db.transaction() as conn:
                portal = conn.root()[ROOT_KEY]
                folder, outbox = portal[SUBMISSIONS], portal["outbox"]
                with mock.patch("compte_citoyen.indexes.writer_shard", return_value=2):
                    folder.add_submission(make_submission(i))
                    message = make_message(i)
                    outbox.add(message.id, message)
                    outbox.index(message)
                written = [type(obj).__name__ for obj in conn._registered_objects]  # changed, not new
        assert written.count("CountBank") == 1 and "Length" not in written
        with db.transaction() as conn:
            portal = conn.root()[ROOT_KEY]
            folder, outbox = portal[SUBMISSIONS], portal["outbox"]
            assert (len(folder), len(outbox), outbox.count("queued")) == (counts[0] + 2, counts[1] + 2,
                                                                           counts[2] + 2)
            assert folder.queue_count() == before[None] + 2
            assert folder.queue_counts.keys(min=("t",), max=("t\x00",)) == [("t", step) for step in (1, 2, 3, 4)]
            assert list(portal.counts.shards.keys()) == [2] and type(portal.counts.shards[2]) is CountBank
            later = portal.ensure_folder("later", Folder)
            later.add("x", Length())
            assert type(later._num) is SharedCounter and later._num.legacy is None and len(later) == 1
    finally:
        db.close()


def test_name_sets_become_sharded_when_written_keeping_their_keys():
    """A name's set of an older database becomes a ``ShardedSet`` (its keys kept where they are) when a request
    under that name is filed; the search reads both."""
    db = DB(MappingStorage())
    try:
        with db.transaction() as conn:
            portal = make_old_portal(conn, requests=60, messages=0)
            folder = portal[SUBMISSIONS]
            old = folder.by_name["martin"]
            assert type(old) is OOTreeSet and len(old) == 30
            new = Submission("D-2026-999999", "etat-civil", "Acte", "famille", "ccas", "received", 1,
                             created=BASE + datetime.timedelta(days=3))
            folder.add_submission(new, names=["Martin"])
            assert type(folder.by_name["martin"]) is ShardedSet and folder.by_name["martin"].legacy is old
            assert [number for _c, number in folder.newest_name_keys("mart")][:2] == ["D-2026-999999", "D-2026-000059"]
            assert len(list(folder.newest_name_keys("martin"))) == 31
            assert len(folder.name_keys("martin")) == 31  # the older releases' search
    finally:
        db.close()


def test_a_households_sets_keep_small_leaves_and_older_large_ones_are_copied_once():
    """A household's (or a request's) set is written by its own requests only: standard 30-key leaves, so a
    request filed by a household with a long history rewrites one small leaf, not its whole set. A set created
    as a ``TimeIndex`` by an earlier release (all its first 250 keys in one record) is copied, keys kept, the
    first time it is written with 30 keys or more; a smaller one is left as it is."""
    db = DB(MappingStorage())
    try:
        with db.transaction() as conn:
            portal = conn.root()[ROOT_KEY] = Portal()
            folder = portal.ensure_folder(SUBMISSIONS, SubmissionFolder)
            outbox = portal.ensure_folder("outbox", Outbox)
            folder.by_household["h-old"] = old = TimeIndex()
            old.update(time_keys(40))
            folder.by_household["h-small"] = small = TimeIndex()
            small.update(time_keys(3))
            outbox.by_household["h-old"] = old_messages = TimeIndex()
            old_messages.update((created, f"m{i}") for i, (created, _n) in enumerate(time_keys(35)))
        for index in range(60):
            with db.transaction() as conn:
                portal = conn.root()[ROOT_KEY]
                folder, outbox = portal[SUBMISSIONS], portal["outbox"]
                for household in ("h-old", "h-small", "h-new"):
                    request = Submission(f"E-2026-{household}-{index:03d}", "etat-civil", "Acte", "famille",
                                         "ccas", "received", 1,
                                         created=BASE + datetime.timedelta(days=1, minutes=index))
                    request.household_id = household
                    folder.add_submission(request)
                    message = Message(id=f"msg-{household}-{index}", event_key=f"event-{household}-{index}",
                                      kind="information", channel="email", subject="Objet", text="Texte",
                                      email="a@example.org", household_id=household,
                                      request_number=request.number, created=request.created)
                    outbox.add(message.id, message)
                    outbox.index(message)
                if index == 0:
                    assert type(folder.by_household["h-old"]) is OOTreeSet  # copied at its first write
                    assert type(folder.by_household["h-small"]) is TimeIndex  # 4 keys: left as it is
                    assert type(outbox.by_household["h-old"]) is OOTreeSet
        with db.transaction() as conn:
            portal = conn.root()[ROOT_KEY]
            folder, outbox = portal[SUBMISSIONS], portal["outbox"]
            for household, before in (("h-old", 40), ("h-small", 3), ("h-new", 0)):
                keys = list(folder.keys_for_household(household))
                assert len(keys) == before + 60 and keys == sorted(keys)
                assert type(folder.by_household[household]) is OOTreeSet
                assert max(leaf_sizes(folder.by_household[household])) <= 30
                assert [s.number for s in folder.newest(folder.keys_for_household(household), 2)] == [
                    f"E-2026-{household}-059", f"E-2026-{household}-058"]
            assert len(outbox.by_household["h-old"]) == 95 and type(outbox.by_household["h-new"]) is OOTreeSet
            assert type(outbox.by_request["E-2026-h-new-000"]) is OOTreeSet
    finally:
        db.close()


def test_ordered_ids_sort_by_process_then_time():
    from compte_citoyen.indexes import ordered_id
    ids = []
    for shard in (2, 1, 2, 1):
        with mock.patch("compte_citoyen.indexes.writer_shard", return_value=shard):
            ids.append(ordered_id(5))
    assert all(len(found) == 25 for found in ids) and len(set(ids)) == 4
    assert sorted(ids) == [ids[1], ids[3], ids[0], ids[2]]


def test_baskets_in_progress_get_large_leaves_keeping_their_keys():
    """Every change of a basket writes the small set of baskets in progress: the evolve step gives an older one
    large leaves (concurrent changes then seldom split or merge a leaf), keeping its keys."""
    from compte_citoyen.billing.models import BasketFolder
    from compte_citoyen.resources import use_writer_shards
    db = DB(MappingStorage())
    try:
        with db.transaction() as conn:
            portal = conn.root()[ROOT_KEY] = Portal()
            baskets = portal.ensure_folder("baskets", BasketFolder)
            assert type(baskets.in_progress) is TimeIndex
            baskets.in_progress = OOTreeSet([("ville", f"b{i:03d}") for i in range(40)])  # as stored before
        with db.transaction() as conn:
            use_writer_shards(conn.root()[ROOT_KEY], None)
        with db.transaction() as conn:
            baskets = conn.root()[ROOT_KEY]["baskets"]
            assert type(baskets.in_progress) is TimeIndex
            assert list(baskets.in_progress) == [("ville", f"b{i:03d}") for i in range(40)]
            assert len(leaf_sizes(baskets.in_progress)) == 1
    finally:
        db.close()


def test_concurrent_basket_changes_merge_even_for_the_first_and_the_last_basket(tmp_path):
    """Two processes change the set of baskets in progress at the same moment: BTrees merge them, even when one
    takes out the first basket of the set or the last two are taken out together (without the set's floor key,
    BTrees refuse to merge a change that deletes a leaf's first key or empties it: replayed, and failed on a busy
    portal). The back office never sees the floor."""
    import transaction
    from ZODB.FileStorage import FileStorage

    from compte_citoyen.billing.models import IN_PROGRESS_FLOOR, Basket, BasketFolder

    def basket(folder, basket_id, regie="ville"):
        found = folder.get(basket_id)
        if found is None:
            found = Basket(basket_id, f"household-{basket_id}")
            found.regie = regie
            folder.add(basket_id, found)
        return found

    def fill(folder, basket_id, regie="ville"):
        item = basket(folder, basket_id, regie)
        item.items = (f"{regie}:F-{basket_id}",)
        folder.track(item, None)

    def empty(folder, basket_id):
        item = folder[basket_id]
        item.items = ()
        folder.track(item, item.regie)

    db = DB(FileStorage(str(tmp_path / "Data.fs")))  # a storage that resolves conflicts, as ZEO's server does
    try:
        with db.transaction() as conn:
            portal = conn.root()[ROOT_KEY] = Portal()
            folder = portal.ensure_folder("baskets", BasketFolder)
            for basket_id in ("b1", "b2", "b3"):
                fill(folder, basket_id)
            fill(folder, "c1", regie="ccas")
        assert_merged = []
        for first, second in [(lambda f: empty(f, "c1"), lambda f: fill(f, "b4")),  # the first basket goes
                              (lambda f: empty(f, "b1"), lambda f: empty(f, "b2")),
                              (lambda f: empty(f, "b3"), lambda f: empty(f, "b4")),  # the last two go together
                              (lambda f: fill(f, "b5"), lambda f: fill(f, "c2", regie="ccas"))]:  # from empty
            tm_a, tm_b = transaction.TransactionManager(), transaction.TransactionManager()
            conn_a, conn_b = db.open(transaction_manager=tm_a), db.open(transaction_manager=tm_b)
            first(conn_a.root()[ROOT_KEY]["baskets"])
            second(conn_b.root()[ROOT_KEY]["baskets"])
            tm_a.commit()
            tm_b.commit()  # merged by the storage, not a ConflictError
            conn_a.close()
            conn_b.close()
            with db.transaction() as conn:
                assert_merged.append(list(conn.root()[ROOT_KEY]["baskets"].in_progress))
        assert assert_merged[-2] == [IN_PROGRESS_FLOOR]
        with db.transaction() as conn:
            folder = conn.root()[ROOT_KEY]["baskets"]
            assert list(folder.in_progress) == [IN_PROGRESS_FLOOR, ("ccas", "c2"), ("ville", "b5")]
            assert [b.id for b in folder.in_progress_for("ville")] == ["b5"]
            assert [b.id for b in folder.in_progress_for("ccas")] == ["c2"]
            assert folder.count_in_progress("ville") == 1 and folder.count_in_progress("ccas") == 1
            folder.build_indexes()  # recounted from the set: the floor is no régie's
            assert folder.count_in_progress("ville") == 1 and folder.count_in_progress("ccas") == 1
            assert dict(folder.in_progress_counts).keys() == {"ville", "ccas"}
    finally:
        db.close()


def test_writer_shard_is_kept_per_process_and_a_forked_child_has_its_own():
    """gunicorn forks its workers from one master: each one computes its own shard (kept, not asked of the
    system at every call)."""
    import os

    from compte_citoyen.indexes import SHARDS, writer_shard
    assert writer_shard() == 1 + os.getpid() % SHARDS == writer_shard()
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        os.write(write_end, str(writer_shard()).encode())
        os._exit(0)
    os.waitpid(child, 0)
    os.close(write_end)
    assert int(os.read(read_end, 16)) == 1 + child % SHARDS
    os.close(read_end)
    assert writer_shard() == 1 + os.getpid() % SHARDS
