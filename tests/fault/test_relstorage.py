"""RelStorage on the real PostgreSQL passes the same functional journeys as FileStorage; two processes share it.

Each run creates its own database (``compte_citoyen_test_<random>``) and drops it afterwards. Without a server the
tests are skipped, unless COMPTE_CITOYEN_REQUIRE_POSTGRES is set (CI), where they fail.
"""
from __future__ import annotations

import re
import threading
import time

import pytest

from compte_citoyen.testing import (
    create_child, create_citizen, create_invoice, login_citizen, relstorage_conf, walk_encombrants,
)

STORAGES = ["filestorage", pytest.param("relstorage", marks=pytest.mark.postgres)]


@pytest.fixture(autouse=True, params=STORAGES)
def storage(request, settings, tmp_path):
    """Point the app of the test at FileStorage (the fixtures' default) or at RelStorage on PostgreSQL."""
    if request.param == "relstorage":
        dsn = request.getfixturevalue("postgres_database")
        settings["zodbconn.uri"] = relstorage_conf(tmp_path / "relstorage.conf", dsn, tmp_path / "blob-cache")
    return request.param


def test_home_page(testapp, storage):
    page = testapp.get("/")
    assert page.status_int == 200
    assert page.html.find("h1") is not None
    assert 'name="csrf_token"' in page.text
    assert testapp.get("/sante").json["status"] == "ok"


def test_account_created_in_database_then_login_and_home(testapp, portal_tx, storage):
    with portal_tx() as portal:
        create_citizen(portal, code="rmartin", password="un mot de passe solide", validated=True,
                       family_name="Martin", first_names="Rose")
    response = login_citizen(testapp, "rmartin", "un mot de passe solide")
    assert response.status_int == 302
    assert response.location.endswith("/accueil")
    home = response.follow()
    assert home.status_int == 200
    assert "rmartin" in home.text
    # a wrong password is refused on this storage too
    testapp.post("/deconnexion", {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"',
                                                             home.text).group(1)})
    refused = login_citizen(testapp, "rmartin", "pas le bon")
    assert refused.status_int != 302 or not refused.location.endswith("/accueil")


@pytest.fixture
def citizen(testapp, portal_tx):
    """A validated citizen with a child and two invoices (Ville, CCAS), logged in."""
    with portal_tx() as portal:
        _account, household = create_citizen(portal, validated=True)
        child = create_child(household, "Lucas")
        create_invoice(portal, household, "ville", "V-001", 4250, member=child)
        create_invoice(portal, household, "ccas", "C-001", 9000, label="Portage de repas")
        household_id = household.id
    assert login_citizen(testapp).status_int == 302
    return household_id


def test_procedure_submission_journey(testapp, citizen, portal_tx, storage):
    """"Les Services" -> the bulky-item pick-up form, page by page -> a numbered request in "Mes Demandes"."""
    page = walk_encombrants(testapp, items="1 armoire")
    number = re.search(r"\d{4}-\d{6}", page.text).group(0)
    assert number in testapp.get("/demandes").text
    with portal_tx() as portal:
        submission = portal["submissions"][number]
        assert submission.household_id == citizen
        assert submission.answer("items") == "1 armoire"
        assert (submission.created, number) in portal["submissions"].keys_for_household(citizen)
        assert portal["outbox"].for_request(number), "the acknowledgement is queued with the request"


def test_basket_journey(testapp, citizen, portal_tx, storage):
    """"Mes comptes" -> add an invoice -> the FAQ's refusal for another régie -> the basket page."""
    accounts = testapp.get("/comptes")
    token = re.search(r'name="csrf_token" value="([^"]+)"', accounts.text).group(1)
    added = testapp.post("/panier/ajouter", {"regie": "ville", "number": "V-001", "csrf_token": token})
    assert added.status_int == 303
    refused = testapp.post("/panier/ajouter", {"regie": "ccas", "number": "C-001", "csrf_token": token}).follow()
    assert "Impossible d'ajouter cet article, vous devez d'abord payer ceux en attente dans votre panier" \
        in refused.text
    basket = testapp.get("/panier")
    assert "V-001" in basket.text and "C-001" not in basket.text
    with portal_tx() as portal:
        current = portal["baskets"].current(citizen)
        assert current.items == ("ville:V-001",)


def test_blob_round_trip(portal_tx, storage):
    """Supporting documents are blobs: stored in PostgreSQL with RelStorage (shared-blob-dir false)."""
    from ZODB.blob import Blob

    from compte_citoyen.resources import Folder
    with portal_tx() as portal:
        blob = Blob()
        with blob.open("w") as handle:
            handle.write(b"%PDF-1.4 justificatif")
        portal.ensure_folder("blob-test", Folder).add("doc", blob)
    with portal_tx() as portal:
        with portal["blob-test"]["doc"].open("r") as handle:
            assert handle.read() == b"%PDF-1.4 justificatif"


def test_counter_under_concurrent_transactions(registry, storage):
    """The sequence behind request numbers never hands out a number twice under concurrent transactions."""
    from compte_citoyen.testing import open_portal
    numbers: list[int] = []
    errors: list[Exception] = []

    def worker():
        import transaction
        from ZODB.POSException import ConflictError
        for _ in range(10):
            for _attempt in range(10):
                try:
                    with open_portal(registry) as portal:
                        number = portal.next_number("storage-test")
                    numbers.append(number)
                    break
                except ConflictError:
                    transaction.abort()
                    time.sleep(0.01)
            else:  # pragma: no cover
                errors.append(RuntimeError("too many conflicts"))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert len(numbers) == 40 and len(set(numbers)) == 40
    with open_portal(registry) as portal:
        assert portal.sequences["storage-test"].value >= max(numbers)
