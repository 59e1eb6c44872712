"""Drafts keep what was typed in their own record and their expiry in per-process sets; a request's messages are
found by event key among that request's messages."""
import datetime
from unittest import mock

from persistent.mapping import PersistentMapping
from ZODB import DB
from ZODB.MappingStorage import MappingStorage

from compte_citoyen.database import ROOT_KEY
from compte_citoyen.indexes import ShardedSet, TimeIndex
from compte_citoyen.notification.models import Message, Outbox
from compte_citoyen.procedures.models import DRAFTS, Draft, DraftFolder
from compte_citoyen.resources import Portal, use_writer_shards

NOW = datetime.datetime(2026, 11, 27, 9, 0, tzinfo=datetime.timezone.utc)


def make_draft(i: int, expires: datetime.datetime) -> Draft:
    return Draft(f"d{i:04d}", "acte", "etat-civil", f"household:h{i % 3}", f"h{i % 3}", expires)


def test_a_page_typed_writes_the_draft_record_only():
    """What each page holds lives in the draft's record: changing it writes one object, not four more."""
    db = DB(MappingStorage())
    try:
        with db.transaction() as conn:
            portal = conn.root()[ROOT_KEY] = Portal()
            portal.ensure_folder(DRAFTS, DraftFolder).add_draft(make_draft(1, NOW))
        with db.transaction() as conn:
            draft = conn.root()[ROOT_KEY][DRAFTS]["d0001"]
            draft.set_page(0, {"name": "Martin"}, True)
            draft.set_paper("livret", True)
            draft.attach("justificatif", "an attachment")
            assert draft._p_changed and conn._registered_objects == [draft]
        with db.transaction() as conn:
            draft = conn.root()[ROOT_KEY][DRAFTS]["d0001"]
            assert (draft.pages, draft.valid, draft.paper) == ({0: {"name": "Martin"}}, {0: True}, {"livret": True})
            assert draft.furthest == 1 and draft.attachments == {"justificatif": "an attachment"}
            draft.set_valid(0, True)
            draft.set_paper("other", False)
            draft.detach("missing")
            assert not draft._p_changed  # nothing changed: nothing written
            draft.set_paper("livret", False)
            draft.detach("justificatif")
            draft.set_valid(0, False)
            assert draft._p_changed
        with db.transaction() as conn:
            draft = conn.root()[ROOT_KEY][DRAFTS]["d0001"]
            assert (draft.paper, draft.attachments, draft.furthest) == ({}, {}, 0)
    finally:
        db.close()


def test_drafts_of_before_keep_their_mappings():
    """A draft stored with ``PersistentMapping`` attributes is changed through the same methods."""
    db = DB(MappingStorage())
    try:
        with db.transaction() as conn:
            portal = conn.root()[ROOT_KEY] = Portal()
            draft = make_draft(1, NOW)
            draft.pages, draft.valid = PersistentMapping(), PersistentMapping()
            draft.attachments, draft.paper = PersistentMapping(), PersistentMapping()
            portal.ensure_folder(DRAFTS, DraftFolder).add_draft(draft)
        with db.transaction() as conn:
            draft = conn.root()[ROOT_KEY][DRAFTS]["d0001"]
            draft.set_page(0, {"a": "1"}, True)
            draft.set_paper("livret", True)
        with db.transaction() as conn:
            draft = conn.root()[ROOT_KEY][DRAFTS]["d0001"]
            assert type(draft.pages) is PersistentMapping and dict(draft.pages) == {0: {"a": "1"}}
            assert draft.furthest == 1 and dict(draft.paper) == {"livret": True}
    finally:
        db.close()


def test_draft_expiry_sharded_by_process_and_converted_without_copy():
    """Each process adds its drafts' expiry to its own set; an older folder's index is kept as it is inside
    the ``ShardedSet`` (evolve step ``core:0082-draft-expiry-shards``); purging reads them all in order."""
    db = DB(MappingStorage())
    try:
        with db.transaction() as conn:
            portal = conn.root()[ROOT_KEY] = Portal()
            folder = portal.ensure_folder(DRAFTS, DraftFolder)
            folder.expiry = TimeIndex()  # as created before
            for i in range(10):
                folder.add_draft(make_draft(i, NOW + datetime.timedelta(minutes=2 * i)))
            old = folder.expiry
        with db.transaction() as conn:
            use_writer_shards(conn.root()[ROOT_KEY], None)
        with db.transaction() as conn:
            folder = conn.root()[ROOT_KEY][DRAFTS]
            assert type(folder.expiry) is ShardedSet and folder.expiry.legacy._p_oid == old._p_oid
            for i in range(10, 20):
                with mock.patch("compte_citoyen.indexes.writer_shard", return_value=1 + i % 3):
                    folder.add_draft(make_draft(i, NOW + datetime.timedelta(minutes=2 * (i - 10) + 1)))
            assert sorted(folder.expiry.shards.keys()) == [1, 2, 3] and len(folder.expiry) == 20
            with mock.patch("compte_citoyen.indexes.writer_shard", return_value=2):
                folder.set_expiry(folder["d0003"], NOW + datetime.timedelta(days=30))  # saved: kept longer
                folder.remove_draft(folder["d0011"])
            # the key of a removed draft is left for the purge (it may be in another process's part)
            assert len(folder.expiry) == 20 and len(folder.expiry.legacy) == 9
            # expired at 9 min 30: 0, 1, 2, 4 of before (3 was kept longer) and 10, 12, 13, 14 of after; the key
            # of 11 goes too
            assert folder.has_expired(NOW + datetime.timedelta(minutes=9, seconds=30))
            assert folder.purge(NOW + datetime.timedelta(minutes=9, seconds=30)) == 8
            assert not folder.has_expired(NOW + datetime.timedelta(minutes=9, seconds=30))
            left = sorted(folder.keys())
            assert left == ["d0003", "d0005", "d0006", "d0007", "d0008", "d0009"] + [
                f"d{i:04d}" for i in range(15, 20)] and len(folder) == 11
            assert [key[1] for key in folder.expiry.keys()] == [
                "d0005", "d0015", "d0006", "d0016", "d0007", "d0017", "d0008", "d0018", "d0009", "d0019", "d0003"]
            use_writer_shards(conn.root()[ROOT_KEY], None)  # a second run changes nothing
            assert folder.expiry.legacy._p_oid == old._p_oid
    finally:
        db.close()


def test_event_keys_of_a_request_kept_with_its_block_of_numbers(tmp_path):
    """An event key that names a request goes to the part of that request's block of numbers (the process that
    filed it writes there alone); other keys, and those of before, are in ``base``. Looking up a key, and
    listing keys in order (a prefix scan), read every part."""
    from ZODB.FileStorage import FileStorage

    from compte_citoyen import resources
    from compte_citoyen.indexes import EventKeyTree, WideOOBTree

    def blocks(first, end):
        return mock.patch.object(resources, "reserved_block",
                                 lambda db, counter, n: first if counter == "requests-2026" and first <= n < end
                                 else None)

    db = DB(FileStorage(str(tmp_path / "Data.fs")))
    try:
        with db.transaction() as conn:
            outbox = conn.root()["outbox"] = Outbox()
            outbox.event_keys = WideOOBTree({"request-received:2026-000001": "m000"})  # as before
            older = make_message(0, "request-received:2026-000001", "2026-000001")
            outbox.add(older.id, older)
            outbox.use_parted_trees()
            assert type(outbox.event_keys) is EventKeyTree
        with db.transaction() as conn:
            outbox = conn.root()["outbox"]
            for i, (key, first) in enumerate([("request-received:2026-000501", 501),
                                              ("request-decision:2026-000501:3", 501),
                                              ("encombrants-reminder:2026-001001", 1001),
                                              ("account-created:jdupont", 501)], start=1):
                message = make_message(i, key, None)
                with blocks(first, first + 500):
                    outbox.add(message.id, message)
                    outbox.index(message)
            tree = outbox.event_keys
            assert list(tree.parts.keys()) == ["2026-000501", "2026-001001"]
            assert sorted(tree.base.keys()) == ["account-created:jdupont", "request-received:2026-000001"]
            assert sorted(tree.parts["2026-000501"].keys()) == ["request-decision:2026-000501:3",
                                                               "request-received:2026-000501"]
            assert outbox.find_event("request-received:2026-000501").id == "m001"
            assert outbox.find_event("request-decision:2026-000501:3").id == "m002"
            assert outbox.find_event("encombrants-reminder:2026-001001").id == "m003"
            assert outbox.find_event("account-created:jdupont").id == "m004"
            assert outbox.find_event("request-received:2026-000001").id == "m000"
            assert outbox.find_event("request-decision:2026-000501:4") is None
            assert list(tree.keys()) == sorted(["request-received:2026-000001", "request-received:2026-000501",
                                                "request-decision:2026-000501:3", "account-created:jdupont",
                                                "encombrants-reminder:2026-001001"])
            assert list(tree.keys(min="request-", max="request-\uffff")) == [
                "request-decision:2026-000501:3", "request-received:2026-000001", "request-received:2026-000501"]
    finally:
        db.close()


def make_message(i: int, event_key: str, request_number: str | None) -> Message:
    return Message(id=f"m{i:03d}", event_key=event_key, kind="acknowledgement", channel="email", subject="Accusé",
                   text="Reçu", email="a@example.org", household_id="h1", request_number=request_number,
                   created=NOW + datetime.timedelta(minutes=i))


def test_a_draft_sent_leaves_its_owner_at_once_and_the_folder_at_its_expiry():
    """Sending a request writes neither the folder's leaf of drafts nor its counter: the draft leaves its owner's
    set (it can no longer be opened nor listed) and ``purge`` removes it at its expiry, brought forward for a draft
    kept longer (a saved one)."""
    db = DB(MappingStorage())
    day = datetime.timedelta(days=1)
    try:
        with db.transaction() as conn:
            folder = conn.root()[ROOT_KEY] = Portal()
            folder = conn.root()[ROOT_KEY].ensure_folder(DRAFTS, DraftFolder)
            folder.add_draft(make_draft(1, NOW + datetime.timedelta(hours=3)))
            saved = folder.add_draft(make_draft(4, NOW + 60 * day))  # same owner as d0001
            saved.saved = True
        with db.transaction() as conn:
            folder = conn.root()[ROOT_KEY][DRAFTS]
            sent = folder["d0001"]
            assert folder.is_open(sent)
            folder.close_draft(sent, NOW, day)
            written = {type(obj).__name__ for obj in conn._registered_objects}
            assert written == {"OOTreeSet"}  # the owner's set only: no leaf of the folder, no counter, no draft
        with db.transaction() as conn:
            folder = conn.root()[ROOT_KEY][DRAFTS]
            assert not folder.is_open(folder["d0001"]) and folder.is_open(folder["d0004"])
            assert [d.id for d in folder.for_owner("household:h1")] == ["d0004"]
            folder.close_draft(folder["d0004"], NOW, day)
            assert folder["d0004"].expires == NOW + day  # brought forward from 60 days
        with db.transaction() as conn:
            folder = conn.root()[ROOT_KEY][DRAFTS]
            assert not list(folder.for_owner("household:h1")) and len(folder) == 2
            assert folder.purge(NOW + datetime.timedelta(hours=4)) == 1 and list(folder.keys()) == ["d0004"]
            assert folder.purge(NOW + day + datetime.timedelta(seconds=1)) == 1 and len(folder) == 0
            assert folder.purge(NOW + 61 * day) == 0 and not list(folder.expiry.keys())  # the older key dropped
    finally:
        db.close()


def test_drafts_go_to_the_part_of_the_process_that_creates_them():
    """A draft's id begins with its process's writer shard: each process adds its drafts at the end of a part of
    its own, in leaves of 30 (random ids in one tree of 250-key leaves made every form read a large leaf that
    another process had just changed, or never loaded). The drafts of an older folder stay where they are."""
    from BTrees.OOBTree import OOBTree

    from compte_citoyen.indexes import IdTree, WideOOBTree
    from compte_citoyen.procedures.models import new_draft_id
    from compte_citoyen.resources import use_parted_trees

    db = DB(MappingStorage())
    try:
        with db.transaction() as conn:
            portal = conn.root()[ROOT_KEY] = Portal()
            older = portal.ensure_folder(DRAFTS, DraftFolder)
            older.data = WideOOBTree()  # as before core:0085-draft-parts
            older.add_draft(make_draft(3, NOW))  # household h0's
        with db.transaction() as conn:
            use_parted_trees(conn.root()[ROOT_KEY], None)
        ids = {}
        for shard in (3, 4):
            with mock.patch("compte_citoyen.indexes.writer_shard", return_value=shard):
                ids[shard] = [new_draft_id() for _ in range(40)]
                with db.transaction() as conn:
                    folder = conn.root()[ROOT_KEY][DRAFTS]
                    for draft_id in ids[shard]:
                        folder.add_draft(Draft(draft_id, "acte", "etat-civil", "household:h1", "h1", NOW))
        assert all(len(draft_id) == 33 and draft_id[:2] == f"{shard:02x}" for shard in ids for draft_id in ids[shard])
        assert len(set(ids[3]) | set(ids[4])) == 80
        with db.transaction() as conn:
            folder = conn.root()[ROOT_KEY][DRAFTS]
            assert isinstance(folder.data, IdTree) and list(folder.data.parts.keys()) == ["03", "04"]
            assert list(folder.data.base.keys()) == ["d0003"] and folder["d0003"].id == "d0003"
            part = folder.data.parts["03"]
            assert isinstance(part, OOBTree) and part.max_leaf_size == 30 and list(part.keys()) == ids[3]
            assert folder[ids[4][5]].id == ids[4][5] and len(folder) == 81
            assert sorted(d.id for d in folder.for_owner("household:h1")) == sorted(ids[3] + ids[4])
        assert isinstance(DraftFolder().data, IdTree)  # a new database
    finally:
        db.close()


def test_the_time_zone_pickles_to_the_same_bytes_without_asking_copyreg_each_time():
    """``compte_citoyen.database`` registers a reduction of ``datetime.timezone`` (records holding dates pickle it
    once each): the bytes are those of the default reduction, and loading gives the same zone."""
    import copyreg
    import pickle

    import compte_citoyen.database  # noqa: F401 - registers the reduction
    zone = datetime.timezone(datetime.timedelta(hours=2), "CEST")
    registered = copyreg.dispatch_table.pop(datetime.timezone)
    try:
        default = [pickle.dumps(value, 3) for value in (NOW, zone, datetime.timezone.utc)]
    finally:
        copyreg.dispatch_table[datetime.timezone] = registered
    with mock.patch("copyreg._slotnames", side_effect=AssertionError("asked")):
        assert [pickle.dumps(value, 3) for value in (NOW, zone, datetime.timezone.utc)] == default
    assert pickle.loads(default[0]) == NOW and pickle.loads(default[0]).tzinfo is datetime.timezone.utc
    assert pickle.loads(default[1]) == zone and pickle.loads(default[1]).tzname(None) == "CEST"


def test_the_event_key_of_a_message_about_its_request_is_found_among_that_request_messages():
    """A message whose event key names the request it is about is found by that key among the request's messages,
    without an entry in ``event_keys``; other keys, and the entries written before, are still found there."""
    db = DB(MappingStorage())
    try:
        with db.transaction() as conn:
            outbox = conn.root()["outbox"] = Outbox()
            older = make_message(0, "request-received:2026-000001", "2026-000001")
            outbox.add(older.id, older)
            outbox.event_keys["request-received:2026-000001"] = older.id  # as indexed before
        with db.transaction() as conn:
            outbox = conn.root()["outbox"]
            for i, (key, number) in enumerate([("request-received:2026-000501", "2026-000501"),
                                               ("request-decision:2026-000501:3", "2026-000501"),
                                               ("payment-receipt:p1", None),
                                               ("request-received:2026-000502", "2026-000777")], start=1):
                message = make_message(i, key, number)
                outbox.add(message.id, message)
                outbox.index(message)
            assert sorted(outbox.event_keys.keys()) == [
                "payment-receipt:p1", "request-received:2026-000001", "request-received:2026-000502"]
            assert outbox.find_event("request-received:2026-000501").id == "m001"
            assert outbox.find_event("request-decision:2026-000501:3").id == "m002"
            assert outbox.find_event("request-decision:2026-000501:4") is None
            assert outbox.find_event("payment-receipt:p1").id == "m003"
            assert outbox.find_event("request-received:2026-000502").id == "m004"  # about another request
            assert outbox.find_event("request-received:2026-000001").id == "m000"
            assert outbox.find_event("request-received:2026-000999") is None
    finally:
        db.close()
