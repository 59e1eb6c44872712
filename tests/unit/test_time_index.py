"""Time-ordered index sets have large leaves (fewer splits, so fewer unresolvable write conflicts), and the
evolve steps convert the sets of older databases keeping every key."""
import datetime

from BTrees.OOBTree import OOBTree, OOTreeSet, intersection
from ZODB import DB
from ZODB.MappingStorage import MappingStorage

from compte_citoyen.database import ROOT_KEY
from compte_citoyen.indexes import TimeIndex
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
    portal = conn.root()[ROOT_KEY] = Portal()
    folder = portal.ensure_folder(SUBMISSIONS, SubmissionFolder)
    folder.queue = OOTreeSet()
    for i in range(requests):
        submission = Submission(f"D-2026-{i:06d}", "etat-civil", "Acte", "famille", "etat-civil" if i % 3 else "ccas",
                                "received", 1 + i % 4, created=BASE + datetime.timedelta(minutes=i))
        submission.household_id = f"h{i % 50}"
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
        message = Message(id=f"m{i:05d}", event_key=f"e{i}", kind="acknowledgement", channel="email",
                          subject="Accusé", text="Reçu", email="a@example.org", household_id=f"h{i % 50}",
                          created=BASE + datetime.timedelta(minutes=i))
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
            # readers and writers work on the converted folder; new per-key sets are TimeIndex
            rows, total, _more = folder.queue_page(services=["ccas"], step=1, limit=500)
            assert rows and total == len(rows) and all(s.service == "ccas" and s.step == 1 for s in rows)
            new = Submission("D-2026-999999", "etat-civil", "Acte", "famille", "urbanisme", "received", 1,
                             created=BASE + datetime.timedelta(days=30))
            new.household_id = "h-new"
            folder.add_submission(new, names=["Zoé"])
            assert type(folder.by_name["zoe"]) is TimeIndex
            assert type(folder.by_household["h-new"]) is TimeIndex
            page, total, _more = folder.queue_page(limit=5)
            assert page[0].number == "D-2026-999999" and total == 701
            # a second run changes nothing
            use_large_index_buckets(portal, None)
            use_large_outbox_buckets(portal, None)
            assert len(folder.queue) == 701 * 2  # a service's step and a procedure's step
    finally:
        db.close()


def test_new_folders_use_time_indexes():
    folder, outbox = SubmissionFolder(), Outbox()
    assert type(folder.queue) is TimeIndex
    assert type(outbox.due) is TimeIndex and outbox.by_created is None  # the list of every message merges states
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
