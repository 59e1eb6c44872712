"""Listings of collections that grow with the city read only what they show.

Each test fills a folder with many objects, then checks that a page of the listing is the right newest-first
page with the right counts, AND that reading it loaded only the objects returned (counted with
``Connection.setstate`` after the connection cache was emptied) and only a few index buckets, never the
whole index range (which ``reversed(list(...))`` or ``len()`` of a BTree range would walk).
"""
from __future__ import annotations

import collections
import contextlib
import datetime
import re
from unittest import mock

import pytest
from ZODB.Connection import Connection

from compte_citoyen.household.workdays import local_today
from compte_citoyen.testing import create_staff, login_staff

UTC = datetime.timezone.utc
NOW = datetime.datetime.now(UTC).replace(microsecond=0)

#: index buckets a page of 50 keys may touch (a bucket holds 15 to 30 keys): a scan of the 1,000 keys of a
#: régie loads 35 or more
FEW_BUCKETS = 8


def few_buckets(keys_read: int, ranges: int = 1) -> int:
    """Index buckets reading ``keys_read`` keys from a point of an index may load (half-full buckets), in
    ``ranges`` ranges read side by side (each may begin and end in a bucket it reads only part of)."""
    return keys_read // 15 + 3 + 2 * (ranges - 1)


@contextlib.contextmanager
def counting_loads(portal=None):
    """Count the objects loaded from the storage, by class name, while the block runs (after emptying the
    cache of ``portal``'s connection, so that what the block reads is loaded, not found in the cache)."""
    if portal is not None:
        portal._p_jar.cacheMinimize()
    loads = collections.Counter()
    original = Connection.setstate

    def setstate(self, obj):
        loads[type(obj).__name__] += 1
        return original(self, obj)

    with mock.patch.object(Connection, "setstate", setstate):
        yield loads


@contextlib.contextmanager
def cold_portal(portal_tx):
    """The portal in a transaction whose connection cache was emptied: every object read is loaded."""
    with portal_tx() as portal:
        portal._p_jar.cacheMinimize()
        yield portal


def bucket_loads(loads) -> int:
    """Leaves of the newest-first indexes (OOTreeSet buckets are ``OOSet``, LLTreeSet's ``LLSet``...)."""
    return sum(count for name, count in loads.items() if name in ("OOSet", "LLSet", "LOBucket"))


def cold_app(registry):
    """Empty the caches of every pooled connection, so the next web request loads what it reads."""
    from compte_citoyen.database import get_database
    get_database(registry).cacheMinimize()


def as_admin(testapp, portal_tx, login="chef"):
    with portal_tx() as portal:
        secret = create_staff(portal, login, roles=("admin",)).totp_secret
    response = login_staff(testapp, login, totp_secret=secret)
    assert response.status_int == 302
    return testapp


# --- invoices -----------------------------------------------------------------------------------------

@pytest.fixture
def many_invoices(portal_tx):
    """2,000 invoices over 2 régies and 10 days, one in three paid; returns the expected orders."""
    from compte_citoyen.billing.models import INVOICES, PAID, UNPAID, Invoice, InvoiceLine
    expected = {("ville", None): [], ("ccas", None): [], ("ville", UNPAID): [], ("ville", PAID): [],
                ("ccas", UNPAID): [], ("ccas", PAID): []}
    today = local_today()
    with portal_tx() as portal:
        households = [portal["households"].new_household(f"Famille{i}").id for i in range(5)]
        folder = portal[INVOICES]
        for i in range(2000):
            regie = ("ville", "ccas")[i % 2]
            issue = today - datetime.timedelta(days=i % 10)
            invoice = Invoice(regie, f"N{i:05d}", households[i % 5], issue, issue + datetime.timedelta(days=30),
                              [InvoiceLine("Cantine", 1000 + i)], source="test")
            folder.add_invoice(invoice)
            if i % 3 == 0:
                folder.set_state(invoice, PAID)
            for key in ((regie, None), (regie, invoice.state)):
                expected[key].append((issue, invoice.number))
    for key, rows in expected.items():  # newest issue date first, then number descending
        rows.sort(reverse=True)
        expected[key] = [number for _issue, number in rows]
    return expected


def test_invoice_listing_reads_only_its_page(portal_tx, many_invoices):
    from compte_citoyen.billing.models import INVOICES, PAID, UNPAID
    with cold_portal(portal_tx) as portal:
        invoices = portal[INVOICES]
        with counting_loads(portal) as loads:
            page = [i.number for i in invoices.for_regie("ville", UNPAID, limit=50, offset=100)]
        assert page == many_invoices[("ville", UNPAID)][100:150]
        assert loads["Invoice"] == 50
        assert bucket_loads(loads) <= few_buckets(150), loads
        with counting_loads(portal) as loads:
            first = [i.number for i in invoices.for_regie("ccas", limit=20)]
        assert first == many_invoices[("ccas", None)][:20]
        assert loads["Invoice"] == 20 and bucket_loads(loads) <= FEW_BUCKETS, loads
        # the last, partial page
        tail = invoices.for_regie("ville", PAID, limit=50, offset=300)
        assert [i.number for i in tail] == many_invoices[("ville", PAID)][300:]
    with cold_portal(portal_tx) as portal:
        invoices = portal[INVOICES]
        with counting_loads(portal) as loads:
            counts = {key: invoices.count_for_regie(*key) for key in many_invoices}
        assert counts == {key: len(rows) for key, rows in many_invoices.items()}
        assert counts[("ville", UNPAID)] == 666 and counts[("ville", None)] == 1000
        assert invoices.count_for_regie("nulle-part", UNPAID) == 0 and invoices.for_regie("nulle-part") == []
        # counters only: no invoice and no index bucket is read
        assert loads["Invoice"] == 0 and bucket_loads(loads) == 0, loads


def test_invoice_counters_follow_state_changes(portal_tx, many_invoices):
    from compte_citoyen.billing.models import INVOICES, PAID, UNPAID
    newest_unpaid = many_invoices[("ville", UNPAID)][0]
    with portal_tx() as portal:
        invoices = portal[INVOICES]
        invoice = invoices.get_invoice("ville", newest_unpaid)
        invoices.set_state(invoice, PAID)
        invoices.set_state(invoice, PAID)  # the same state again changes nothing
    with portal_tx() as portal:
        invoices = portal[INVOICES]
        assert invoices.count_for_regie("ville", UNPAID) == 665
        assert invoices.count_for_regie("ville", PAID) == 335
        assert invoices.count_for_regie("ville") == 1000
        assert invoices.for_regie("ville", UNPAID, limit=1)[0].number == many_invoices[("ville", UNPAID)][1]
        assert newest_unpaid in [i.number for i in invoices.for_regie("ville", PAID, limit=50)]


def test_billing_evolve_builds_indexes_of_an_older_database(portal_tx, registry, many_invoices):
    """A database written before the indexes: writers skip them, the evolve step builds them from the keys."""
    from compte_citoyen.billing.models import (ANOMALIES, BASKETS, INVOICES, PAID, PAYMENTS, UNPAID, Anomaly,
                                               Invoice, InvoiceLine, build_billing_indexes, new_id)
    from compte_citoyen.evolution import get_steps
    assert "core:0071-billing-indexes" in [step.name for step in get_steps(registry)]
    with portal_tx() as portal:
        for name in (INVOICES, BASKETS, PAYMENTS, ANOMALIES):
            folder = portal[name]
            folder._p_activate()
            for attribute in ("recent", "counts", "in_progress_counts"):
                if attribute in folder.__dict__:
                    delattr(folder, attribute)  # back to the class default (None), as stored before
        invoices = portal[INVOICES]
        assert invoices.recent is None and invoices.counts is None
        # the older behaviour still answers before the evolve step
        assert [i.number for i in invoices.for_regie("ville", UNPAID, limit=5)] == \
            many_invoices[("ville", UNPAID)][:5]
        assert invoices.count_for_regie("ville", UNPAID) == 666
        late = Invoice("ville", "LATE-1", "h", local_today() + datetime.timedelta(days=1),
                       local_today() + datetime.timedelta(days=30), [InvoiceLine("x", 100)])
        invoices.add_invoice(late)  # written before the evolve step: not in the (missing) new index
        portal[ANOMALIES].record(Anomaly(new_id(), "ville", "unknown_order", "avant l'évolution"))
    with portal_tx() as portal:
        build_billing_indexes(portal, registry)
    with portal_tx() as portal:
        invoices = portal[INVOICES]
        assert invoices.count_for_regie("ville", UNPAID) == 667
        assert invoices.count_for_regie("ville", PAID) == 334 and invoices.count_for_regie("ccas") == 1000
        assert [i.number for i in invoices.for_regie("ville", UNPAID, limit=3)] == \
            ["LATE-1"] + many_invoices[("ville", UNPAID)][:2]
        assert portal[ANOMALIES].count_open("ville") == 1
        assert [a.detail for a in portal[ANOMALIES].for_regie("ville")] == ["avant l'évolution"]


def test_regie_invoices_page_is_paginated_and_index_bounded(testapp, portal_tx, registry, many_invoices):
    as_admin(testapp, portal_tx)
    cold_app(registry)
    with counting_loads() as loads:
        response = testapp.get("/backoffice/regies/ville", {"vue": "factures", "etat": "unpaid", "page": "2"})
    numbers = re.findall(r"/factures/(N\d{5})\.pdf", response.text)
    assert numbers == many_invoices[("ville", "unpaid")][50:100]
    assert loads["Invoice"] == 50 and bucket_loads(loads) <= few_buckets(100), loads
    assert "666 facture(s)." in response.text
    assert 'aria-current="page"' in response.text and "Page précédente" in response.text
    assert "page=3" in response.text and "page=14" in response.text  # 666 / 50: 14 pages, the last linked
    assert response.text.count("<h1") == 1
    last = testapp.get("/backoffice/regies/ville", {"vue": "factures", "etat": "unpaid", "page": "999"})
    assert re.findall(r"/factures/(N\d{5})\.pdf", last.text) == many_invoices[("ville", "unpaid")][650:]
    assert "Page suivante" not in last.text
    every = testapp.get("/backoffice/regies/ccas", {"vue": "factures", "etat": "", "page": "nope"})
    assert re.findall(r"/factures/(N\d{5})\.pdf", every.text) == many_invoices[("ccas", None)][:50]
    assert "1000 facture(s)." in every.text
    overview = testapp.get("/backoffice/factures")
    assert re.search(r">666<", overview.text) and re.search(r">667<", overview.text)  # unpaid, per régie


# --- payments, anomalies, baskets --------------------------------------------------------------------

@pytest.fixture
def many_payments(portal_tx):
    """600 payments over 2 régies, one a minute back from now; returns the ids newest first per régie."""
    from compte_citoyen.billing.models import PAYMENTS, Payment, new_id
    expected = {"ville": [], "ccas": []}
    with portal_tx() as portal:
        payments = portal[PAYMENTS]
        for i in range(600):
            regie = ("ville", "ccas")[i % 2]
            payment = Payment(new_id(), regie, "dummy", "h", "b", ("ville:X",), 1000, NOW)
            payment.created = NOW - datetime.timedelta(minutes=i)
            payments.add_payment(payment)
            expected[regie].append(payment.id)
    return expected


def test_payment_listing_reads_only_its_page(portal_tx, many_payments):
    from compte_citoyen.billing.models import PAYMENTS
    with cold_portal(portal_tx) as portal:
        payments = portal[PAYMENTS]
        with counting_loads(portal) as loads:
            page = [p.id for p in payments.newest_for_regie("ville", offset=40, limit=30)]
        assert page == many_payments["ville"][40:70]
        assert loads["Payment"] == 30 and bucket_loads(loads) <= few_buckets(70), loads
        # a period [start, end): payments i = 10..19 of the régie (20..39 minutes ago, every other minute)
        start, end = NOW - datetime.timedelta(minutes=39), NOW - datetime.timedelta(minutes=19)
        with counting_loads(portal) as loads:
            period = [p.id for p in payments.newest_for_regie("ville", start, end, limit=50)]
        assert period == many_payments["ville"][10:20]
        assert loads["Payment"] == 10, loads
        # the older API (oldest first, the newest ``limit``) answers from the same index
        assert [p.id for p in payments.for_regie("ccas", limit=5)] == list(reversed(many_payments["ccas"][:5]))
        assert len(payments.for_regie("ccas")) == 300


def test_regie_payments_page_has_a_next_page(testapp, portal_tx, registry, many_payments):
    as_admin(testapp, portal_tx)
    cold_app(registry)
    today = local_today()
    query = {"vue": "paiements", "du": (today - datetime.timedelta(days=3)).isoformat(),
             "au": (today + datetime.timedelta(days=1)).isoformat()}
    with counting_loads() as loads:
        response = testapp.get("/backoffice/regies/ville", query)
    assert response.text.count("<tr>") == 1 + 50
    # a page of 50 (the one more read to know a next page exists stays a ghost: its key is enough)
    assert loads["Payment"] == 50, loads
    assert "Page suivante" in response.text and "Page précédente" not in response.text
    page6 = testapp.get("/backoffice/regies/ville", {**query, "page": "6"})
    assert "Page précédente" in page6.text and "Page suivante" not in page6.text
    assert page6.text.count("billing-table") == 1 and page6.text.count("<tr>") == 1 + 50


def test_anomalies_listing_and_open_count(portal_tx, testapp, registry):
    from compte_citoyen.billing.models import ANOMALIES, Anomaly, new_id
    with portal_tx() as portal:
        anomalies = portal[ANOMALIES]
        ids = {"ville": [], "ccas": []}
        for i in range(400):
            regie = ("ville", "ccas")[i % 2]
            anomaly = Anomaly(new_id(), regie, "wrong_amount", f"anomalie {i}")
            anomaly.created = NOW - datetime.timedelta(seconds=i)
            anomalies.record(anomaly)
            ids[regie].append(anomaly.id)
        for anomaly_id in ids["ville"][:30]:
            anomalies.resolve(anomalies[anomaly_id], "staff:chef", "remboursé")
        anomalies.resolve(anomalies[ids["ville"][0]], "staff:chef", "deux fois")  # counted once
    with cold_portal(portal_tx) as portal:
        anomalies = portal[ANOMALIES]
        with counting_loads(portal) as loads:
            assert anomalies.count_open("ville") == 170 and anomalies.count_open("ccas") == 200
            assert anomalies.count("ville") == 200
        assert loads["Anomaly"] == 0 and bucket_loads(loads) == 0
        with counting_loads(portal) as loads:
            still_open = [a.id for a in anomalies.for_regie("ville", open_only=True, limit=10, offset=5)]
        assert still_open == ids["ville"][35:45]
        assert loads["Anomaly"] == 10 and bucket_loads(loads) <= FEW_BUCKETS, loads
        assert [a.id for a in anomalies.for_regie("ville", limit=3)] == ids["ville"][:3]
    as_admin(testapp, portal_tx)
    response = testapp.get("/backoffice/regies/ville", {"vue": "anomalies", "page": "4"})
    assert "200 anomalie(s), dont 170 à régulariser." in response.text
    assert response.text.count("billing-anomaly") == 50
    # the 4th page holds the régie's 150th to 199th newest: anomalies 300, 302 ... 398
    assert "anomalie 300<" in response.text and "anomalie 398<" in response.text
    assert "anomalie 298<" not in response.text and "anomalie 1<" not in response.text
    assert "Page suivante" not in response.text and "Page précédente" in response.text


def test_baskets_in_progress_counted_and_paged(portal_tx):
    from compte_citoyen.billing.models import BASKETS, CLOSED
    with portal_tx() as portal:
        baskets = portal[BASKETS]
        for i in range(300):
            basket = baskets.current_or_new(f"foyer-{i}")
            basket.items = (f"ville:N{i}",) if i % 3 else (f"ccas:N{i}",)
            basket.regie = "ville" if i % 3 else "ccas"
            baskets.track(basket, None)
            baskets.track(basket, basket.regie)  # tracked again: counted once
        closed = baskets.current("foyer-1")
        baskets.close(closed)
    with cold_portal(portal_tx) as portal:
        baskets = portal[BASKETS]
        with counting_loads(portal) as loads:
            assert baskets.count_in_progress("ville") == 199 and baskets.count_in_progress("ccas") == 100
        assert loads["Basket"] == 0
        with counting_loads(portal) as loads:
            page = [(b.regie, b.state) for b in baskets.in_progress_for("ville", limit=25, offset=50)]
        assert len(page) == 25 and all(regie == "ville" and state != CLOSED for regie, state in page)
        assert loads["Basket"] == 25 and bucket_loads(loads) <= few_buckets(75), loads


# --- requests: the agents' queue ----------------------------------------------------------------------

@pytest.fixture
def many_requests(portal_tx):
    """2,000 requests over 2 services, a minute apart, at steps 1 to 4, with a few family names."""
    from compte_citoyen.procedures.models import SUBMISSIONS, Submission
    rows = []
    with portal_tx() as portal:
        folder = portal[SUBMISSIONS]
        for i in range(2000):
            procedure, service = (("encombrants", "voirie"), ("acte_naissance", "etat_civil"))[i % 2]
            step = 1 + (i // 2) % 4
            created = NOW - datetime.timedelta(minutes=i)
            number = f"2026-{900000 + i:06d}"
            name = ("Martin", "Bernard", "Petit", "Durand", "Moreau")[i % 5]
            submission = Submission(number, procedure, "Démarche", service, service, "received", step, created)
            submission.requester_name = f"Jeanne {name}"
            folder.add_submission(submission, names=[name])
            rows.append({"number": number, "service": service, "step": step, "created": created, "name": name,
                         "procedure": procedure})
    return rows  # newest first


def numbers(rows):
    return [row["number"] for row in rows]


def test_request_queue_reads_only_its_page(portal_tx, many_requests):
    from compte_citoyen.procedures.models import SUBMISSIONS
    voirie_received = [r for r in many_requests if r["service"] == "voirie" and r["step"] == 1]
    with cold_portal(portal_tx) as portal:
        folder = portal[SUBMISSIONS]
        with counting_loads(portal) as loads:
            rows, total, more = folder.queue_page(services=["voirie"], step=1, offset=30, limit=30)
            listed = [s.number for s in rows]
        assert listed == numbers(voirie_received)[30:60]
        assert total == len(voirie_received) == 250 and more
        assert loads["Submission"] == 30 and bucket_loads(loads) <= few_buckets(60), loads
        # two services merged, newest first
        with counting_loads(portal) as loads:
            rows, total, more = folder.queue_page(services=["voirie", "etat_civil"], offset=0, limit=30)
            listed = [s.number for s in rows]
        assert listed == numbers(many_requests)[:30] and total == 2000
        assert loads["Submission"] == 30 and bucket_loads(loads) <= 2 * FEW_BUCKETS, loads
        # an administrator (every service), a theme (its procedures), counts from the counters
        with counting_loads(portal) as loads:
            assert folder.queue_count(step=2) == 500
            assert folder.queue_count(services=["voirie"], procedures=["encombrants"], step=3) == 250
            assert folder.queue_count(services=["etat_civil"], procedures=["encombrants"]) == 0
            assert folder.queue_count(procedures=["acte_naissance"]) == 1000
        assert loads["Submission"] == 0 and bucket_loads(loads) == 0, loads
        rows, total, _more = folder.queue_page(procedures=["acte_naissance"], step=4, limit=5)
        assert [s.number for s in rows] == numbers([r for r in many_requests
                                                    if r["procedure"] == "acte_naissance" and r["step"] == 4])[:5]
        # an agent without service sees nothing
        assert folder.queue_page(services=[], limit=5) == ([], 0, False)


def test_request_queue_date_and_name_filters(portal_tx, many_requests):
    from compte_citoyen.procedures.models import SUBMISSIONS
    date_from = NOW - datetime.timedelta(minutes=1500)
    date_to = NOW - datetime.timedelta(minutes=100)
    in_range = [r for r in many_requests if r["service"] == "voirie" and date_from <= r["created"] <= date_to]
    with cold_portal(portal_tx) as portal:
        folder = portal[SUBMISSIONS]
        with counting_loads(portal) as loads:
            rows, total, more = folder.queue_page(services=["voirie"], date_from=date_from, date_to=date_to,
                                                  offset=60, limit=30)
            listed = [s.number for s in rows]
        assert listed == numbers(in_range)[60:90]
        assert total is None and more  # nothing counts a date range: ``more`` says a next page exists
        # merged from the ranges of the service's 4 steps
        assert loads["Submission"] == 30 and bucket_loads(loads) <= few_buckets(91, ranges=4), loads
        last = folder.queue_page(services=["voirie"], date_from=date_from, date_to=date_to, offset=690, limit=30)
        assert [s.number for s in last[0]] == numbers(in_range)[690:] and last[2] is False
        # a name: candidates from the name index newest first, checked by key against the service and the step
        # until the page and one more are found; nothing counts every match (total None, ``more`` instead)
        martins = [r for r in many_requests if r["name"] == "Martin" and r["service"] == "voirie" and r["step"] == 2]
        with counting_loads(portal) as loads:
            rows, total, more = folder.queue_page(services=["voirie"], step=2, name="mart", limit=20)
            listed = [s.number for s in rows]
        assert listed == numbers(martins)[:20] and total is None and more
        assert loads["Submission"] == 20, loads
        rows, total, more = folder.queue_page(services=["voirie"], step=2, name="mart", offset=40, limit=20)
        assert [s.number for s in rows] == numbers(martins)[40:50] and len(martins) == 50 and not more
        # two words: each must start one of the request's names; a date range bounds the walk
        in_dates = [r for r in many_requests if r["name"] == "Martin" and date_from <= r["created"] <= date_to]
        rows, total, more = folder.queue_page(name="mart", date_from=date_from, date_to=date_to, limit=500)
        assert [s.number for s in rows] == numbers(in_dates) and not more
        assert folder.queue_page(name="martin bern", limit=5) == ([], None, False)
        assert folder.queue_page(name="zzz", limit=5) == ([], None, False)


def test_request_queue_follows_status_changes(portal_tx, many_requests):
    from compte_citoyen.procedures.models import SUBMISSIONS
    newest = many_requests[0]  # voirie, step 1
    with portal_tx() as portal:
        folder = portal[SUBMISSIONS]
        folder.set_status(folder[newest["number"]], "in_progress", 2)
        folder.set_status(folder[newest["number"]], "in_progress_again", 2)  # same step: queue unchanged
    with portal_tx() as portal:
        folder = portal[SUBMISSIONS]
        assert folder.queue_count(services=["voirie"], step=1) == 249
        assert folder.queue_count(services=["voirie"], step=2) == 251
        assert folder.queue_count(step=2) == 501 and folder.queue_count() == 2000
        rows, _total, _more = folder.queue_page(services=["voirie"], step=2, limit=1)
        assert rows[0].number == newest["number"]


def test_request_queue_evolve_step(portal_tx, registry, many_requests):
    from compte_citoyen.procedures import build_request_queue
    from compte_citoyen.procedures.models import SUBMISSIONS
    with portal_tx() as portal:
        folder = portal[SUBMISSIONS]
        del folder.queue, folder.queue_counts  # as stored before them
        build_request_queue(portal, registry)
    with portal_tx() as portal:
        folder = portal[SUBMISSIONS]
        assert folder.queue_count(services=["voirie"], step=1) == 250 and folder.queue_count() == 2000
        rows, _total, _more = folder.queue_page(limit=3)
        assert [s.number for s in rows] == numbers(many_requests)[:3]


def test_requests_back_office_page_is_paginated(testapp, portal_tx, registry, many_requests):
    as_admin(testapp, portal_tx)
    from compte_citoyen.procedures.backoffice import received_count
    cold_app(registry)
    with counting_loads() as loads:
        response = testapp.get("/backoffice/demandes", {"etape": "1", "page": "3"})
    listed = re.findall(r'/backoffice/demandes/(\d{4}-\d{6})"', response.text)
    assert listed == numbers([r for r in many_requests if r["step"] == 1])[60:90]
    assert "500 demande(s)." in response.text
    # merged from the ranges of step 1 of the 2 services
    assert loads["Submission"] == 30 and bucket_loads(loads) <= few_buckets(90, ranges=2), loads
    assert "page=17" in response.text and "Page suivante" in response.text  # 500 / 30: 17 pages
    since = (local_today() - datetime.timedelta(days=3)).isoformat()
    dated = testapp.get("/backoffice/demandes", {"du": since, "page": "2"})
    assert len(re.findall(r'/backoffice/demandes/(\d{4}-\d{6})"', dated.text)) == 30
    assert "Page précédente" in dated.text
    with portal_tx() as portal:
        class Req:
            app_root = portal
            identity = portal["staff"]["chef"]
        assert received_count(Req()) == 500


# --- messages, journal, accounts ----------------------------------------------------------------------

def test_outbox_counts_from_counters(portal_tx):
    from compte_citoyen.notification import FAILED, INFORMATION, QUEUED, SENT, get_outbox, queue_message
    with portal_tx() as portal:
        outbox = get_outbox(portal)
        for i in range(1200):
            message = queue_message(portal, event_key=f"k{i}", kind=INFORMATION, subject=f"s{i}", text="t",
                                    email="a@example.org")
            if i % 2:
                outbox.set_state(message, SENT)
            elif i % 3 == 0:
                outbox.set_state(message, FAILED)
                outbox.set_state(message, FAILED)  # the same state again: counted once
    with cold_portal(portal_tx) as portal:
        outbox = get_outbox(portal)
        with counting_loads(portal) as loads:
            counts = {state: outbox.count(state) for state in (QUEUED, SENT, FAILED)}
        assert counts == {QUEUED: 400, SENT: 600, FAILED: 200}
        assert loads["Message"] == 0 and bucket_loads(loads) == 0, loads
        with counting_loads(portal) as loads:
            page, cursor = outbox.page(SENT, limit=50)
            states = {m.state for m in page}
        assert len(page) == 50 and states == {SENT} and cursor is not None and loads["Message"] == 50
        # an outbox stored before the counters: the evolve step counts them
        del outbox.state_counts
        assert outbox.count(SENT) == 600
        from compte_citoyen.notification import count_outbox_states
        count_outbox_states(portal, None)
        assert outbox.count(QUEUED) == 400 and outbox.count(FAILED) == 200


def test_journal_pages_read_only_their_entries(portal_tx, testapp):
    as_admin(testapp, portal_tx)
    with portal_tx() as portal:
        journal = portal["journal"]
        for i in range(1500):
            journal.record("staff:chef", "test-action", "regie:ville" if i % 2 else "", f"entrée {i}")
    with cold_portal(portal_tx) as portal:
        journal = portal["journal"]
        with counting_loads(portal) as loads:
            entries = [e.detail for e in journal.latest(50, offset=100)]
        assert entries == [f"entrée {i}" for i in range(1399, 1349, -1)]
        assert loads["JournalEntry"] == 50 and bucket_loads(loads) <= few_buckets(150), loads
        with counting_loads(portal) as loads:
            targeted = [e.detail for e in journal.for_target("regie:ville", 20, offset=10)]
        assert targeted == [f"entrée {i}" for i in range(1479, 1439, -2)]
        assert loads["JournalEntry"] == 20, loads
    response = testapp.get("/backoffice/journal", {"page": "2"})
    assert response.text.count("test-action") == 100 and "entrée 1399" in response.text
    assert "Page précédente" in response.text and "Page suivante" in response.text
    targeted = testapp.get("/backoffice/journal", {"cible": "regie:ville", "page": "8"})
    assert targeted.text.count("test-action") == 50  # 750 entries: the 8th page holds the last 50
    assert "Page suivante" not in targeted.text and "cible=regie%3Aville" in targeted.text


def test_accounts_queue_is_paginated(portal_tx, testapp, registry):
    from compte_citoyen.authentication.models import VALIDATED, Account
    with portal_tx() as portal:
        accounts = portal["accounts"]
        households = portal["households"]
        codes = []
        for i in range(130):
            household = households.new_household(f"Famille{i}")
            account = Account(f"code{i:03d}", "hash", household.id, "m", "q", "hash",
                              created=NOW - datetime.timedelta(days=30) + datetime.timedelta(minutes=i))
            accounts.add_account(account)
            codes.append(account.code)
        accounts.set_state(accounts.get_by_code("code000"), VALIDATED)
        accounts.set_state(accounts.get_by_code("code000"), VALIDATED)
    with cold_portal(portal_tx) as portal:
        accounts = portal["accounts"]
        with counting_loads(portal) as loads:
            assert accounts.waiting_count() == 129
            page = [a.code for a in accounts.waiting(offset=50, limit=50)]
        assert page == codes[51:101]
        assert loads["Account"] == 50 and bucket_loads(loads) <= few_buckets(100), loads
    as_admin(testapp, portal_tx)
    response = testapp.get("/backoffice/comptes", {"page": "3"})
    listed = re.findall(r'/backoffice/comptes/(code\d{3})"', response.text)
    assert listed == codes[101:]
    assert "129 compte(s)" in response.text and "129 en retard" in response.text
    assert "Page précédente" in response.text and "Page suivante" not in response.text
    home = testapp.get("/backoffice/")
    assert "129" in home.text
