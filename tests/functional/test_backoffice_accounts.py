"""Back office: roles and their queues, the validation queue in working days, decisions, régie references."""
import datetime as dt
import re

import pytest

from compte_citoyen import testing

UTC = dt.timezone.utc


def _token(response):
    return re.search(r'name="csrf_token" value="([^"]+)"', response.text).group(1)


def _staff(portal_tx, testapp, login, roles):
    with portal_tx() as portal:
        secret = testing.create_staff(portal, login, roles=roles).totp_secret
    response = testing.login_staff(testapp, login, totp_secret=secret)
    assert response.status_int == 302
    return secret


def _citizen(portal, code, created, family_name="Dupont", validated=False):
    account, household = testing.create_citizen(portal, code=code, validated=validated, family_name=family_name,
                                                first_names="Anne", email=f"{code}@example.org")
    folder = portal["accounts"]
    if not validated:
        folder.pending.discard((account.created, account.key))
        folder.pending.add((created, account.key))
    account.created = created
    return account, household


# --- roles ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("roles,allowed,refused", [
    (("validator",), ["/backoffice/comptes"], ["/backoffice/agents", "/backoffice/journal"]),
    (("agent",), [], ["/backoffice/comptes", "/backoffice/agents", "/backoffice/journal"]),
    (("regie_manager",), [], ["/backoffice/comptes", "/backoffice/agents", "/backoffice/journal"]),
    (("admin",), ["/backoffice/comptes", "/backoffice/agents", "/backoffice/journal"], []),
])
def test_roles_see_only_their_queues(testapp, portal_tx, roles, allowed, refused):
    _staff(portal_tx, testapp, "someone", roles)
    home = testapp.get("/backoffice/")
    for path in allowed:
        assert testapp.get(path).status_int == 200
        assert f'href="http://localhost{path}"' in home.text
    for path in refused:
        response = testapp.get(path, status=403)
        assert "Accès refusé" in response.text or "autorisé" in response.text
        assert f'href="http://localhost{path}"' not in home.text


def test_agent_may_open_a_file_but_not_decide(testapp, portal_tx):
    with portal_tx() as portal:
        _citizen(portal, "anne", dt.datetime(2026, 3, 2, 9, tzinfo=UTC))
    _staff(portal_tx, testapp, "agent1", ("agent",))
    page = testapp.get("/backoffice/comptes/anne")
    assert "Valider le compte" not in page.text
    testapp.post("/backoffice/comptes/anne", {"csrf_token": _token(page), "validate": "1"}, status=403)
    with portal_tx() as portal:
        assert portal["accounts"].get_by_code("anne").state == "pending"


def test_regie_manager_cannot_open_a_citizen_file(testapp, portal_tx):
    with portal_tx() as portal:
        _citizen(portal, "anne", dt.datetime(2026, 3, 2, 9, tzinfo=UTC))
    _staff(portal_tx, testapp, "regie1", ("regie_manager",))
    testapp.get("/backoffice/comptes/anne", status=403)


def test_staff_list_shows_roles(testapp, portal_tx):
    with portal_tx() as portal:
        testing.create_staff(portal, "val9", roles=("validator",), name="Victor Valideur")
    _staff(portal_tx, testapp, "admin1", ("admin",))
    html = testapp.get("/backoffice/agents").text
    assert "Victor Valideur" in html and "Valideur de comptes" in html and "Administrateur" in html


# --- the queue ------------------------------------------------------------------------------------------------

def test_queue_oldest_first_with_age_in_working_days(testapp, portal_tx, monkeypatch):
    from compte_citoyen.backoffice import accounts
    with portal_tx() as portal:
        _citizen(portal, "recent", dt.datetime(2026, 5, 7, 9, tzinfo=UTC), "Recent")    # Thursday before 8 May
        _citizen(portal, "oldest", dt.datetime(2026, 4, 30, 9, tzinfo=UTC), "Oldest")   # Thursday before 1 May
        _citizen(portal, "middle", dt.datetime(2026, 5, 5, 9, tzinfo=UTC), "Middle")    # Tuesday
        _citizen(portal, "done", dt.datetime(2026, 4, 1, 9, tzinfo=UTC), "Done", validated=True)
    # "now" is Monday 11 May 2026: 1 May and 8 May (Fridays) are public holidays
    monkeypatch.setattr(accounts, "utcnow", lambda: dt.datetime(2026, 5, 11, 10, tzinfo=UTC))
    _staff(portal_tx, testapp, "val1", ("validator",))
    page = testapp.get("/backoffice/comptes")
    rows = page.html.find("table", class_="queue").find("tbody").find_all("tr")
    codes = [r.find("a").text for r in rows]
    assert codes == ["oldest", "middle", "recent"]
    ages = [r.find_all("td")[3].text.split()[0] for r in rows]
    # oldest (Thu 30 April): Mon 4, Tue 5, Wed 6, Thu 7, Mon 11 = 5 (1 and 8 May are holidays, then weekends)
    # middle (Tue 5 May): Wed 6, Thu 7, Mon 11 = 3; recent (Thu 7 May): Mon 11 = 1
    assert ages == ["5", "3", "1"]
    # past 2 working days: highlighted with text, not colour only
    assert "late" in rows[0]["class"] and "en retard" in rows[0].text
    assert "late" in rows[1]["class"] and "en retard" in rows[1].text
    assert "late" not in (rows[2].get("class") or []) and "en retard" not in rows[2].text
    assert "done" not in page.text.split("<caption")[1]


def test_search_by_access_code(testapp, portal_tx):
    with portal_tx() as portal:
        _citizen(portal, "done", dt.datetime(2026, 4, 1, 9, tzinfo=UTC), validated=True)
    _staff(portal_tx, testapp, "val1", ("validator",))
    response = testapp.get("/backoffice/comptes", {"code": "DONE"}, status=302)
    assert response.location.endswith("/backoffice/comptes/done")
    assert "Aucun compte n’a ce code d’accès." in testapp.get("/backoffice/comptes", {"code": "nobody"}).text


# --- the file and the decisions -----------------------------------------------------------------------------

@pytest.fixture
def waiting(portal_tx):
    with portal_tx() as portal:
        account, household = _citizen(portal, "anne", dt.datetime(2026, 3, 2, 9, tzinfo=UTC))
        testing.create_child(household, "Lucas")
        return household.id


def test_viewing_a_file_is_journaled(testapp, portal_tx, waiting):
    _staff(portal_tx, testapp, "val1", ("validator",))
    page = testapp.get("/backoffice/comptes/anne")
    assert "Anne Dupont" in page.text and "Lucas Dupont" in page.text
    assert page.html.find("h1").text == "Compte anne"
    with portal_tx() as portal:
        entries = portal["journal"].for_target("account:anne")
        assert [(e.actor, e.action) for e in entries] == [("staff:val1", "file-viewed")]


def test_validation_tells_the_citizen_by_email(testapp, portal_tx, waiting):
    _staff(portal_tx, testapp, "val1", ("validator",))
    page = testapp.get("/backoffice/comptes/anne")
    response = testapp.post("/backoffice/comptes/anne", {"csrf_token": _token(page), "validate": "1"}, status=302)
    assert "est validé" in response.follow().text
    with portal_tx() as portal:
        account = portal["accounts"].get_by_code("anne")
        assert account.state == "validated" and account.validated_at is not None
        assert len(portal["accounts"].pending) == 0
        from compte_citoyen.notification import messages_for_household
        messages = messages_for_household(portal, waiting, 10)
        decision = [m for m in messages if m.kind == "decision"]
        assert len(decision) == 1 and decision[0].channel == "email" and decision[0].email == "anne@example.org"
        assert "validé" in decision[0].subject
        entries = portal["journal"].for_target("account:anne")
        assert any(e.actor == "staff:val1" and e.action == "account-validated" for e in entries)


def test_validation_email_is_delivered(smtp_server, testapp, portal_tx, waiting, registry):
    _staff(portal_tx, testapp, "val1", ("validator",))
    page = testapp.get("/backoffice/comptes/anne")
    testapp.post("/backoffice/comptes/anne", {"csrf_token": _token(page), "validate": "1"}, status=302)
    try:
        from compte_citoyen.notification.worker import deliver_due
    except ImportError:
        pytest.skip("the notification worker is not available")
    deliver_due(registry)
    messages = smtp_server.wait_for(1)
    assert messages and messages[0]["To"] == "anne@example.org"
    assert "validé" in smtp_server.text_of(messages[0])


def test_refusal_requires_a_reason(testapp, portal_tx, waiting):
    _staff(portal_tx, testapp, "val1", ("validator",))
    page = testapp.get("/backoffice/comptes/anne")
    response = testapp.post("/backoffice/comptes/anne", {"csrf_token": _token(page), "refuse": "1", "reason": "  "})
    assert response.status_int == 200
    assert "Indiquez le motif du refus" in response.text
    assert 'aria-invalid="true"' in response.text
    with portal_tx() as portal:
        assert portal["accounts"].get_by_code("anne").state == "pending"
    response = testapp.post("/backoffice/comptes/anne", {"csrf_token": _token(page), "refuse": "1",
                                                         "reason": "Adresse hors de la commune"}, status=302)
    with portal_tx() as portal:
        account = portal["accounts"].get_by_code("anne")
        assert account.state == "refused" and account.refusal_reason == "Adresse hors de la commune"
        from compte_citoyen.notification import messages_for_household
        decision = [m for m in messages_for_household(portal, waiting, 10) if m.kind == "decision"]
        assert decision and "Adresse hors de la commune" in decision[0].text
        entries = portal["journal"].for_target("account:anne")
        assert any(e.action == "account-refused" and e.detail == "Adresse hors de la commune" for e in entries)


def test_regie_references(testapp, portal_tx, waiting, registry):
    from compte_citoyen.backoffice.accounts import regie_choices

    class Req:
        def translate(self, s, mapping=None):
            return str(s)
    codes = [c for c, _l in regie_choices(type("R", (Req,), {"registry": registry})())]
    assert codes
    _staff(portal_tx, testapp, "val1", ("validator",))
    page = testapp.get("/backoffice/comptes/anne")
    fields = {"csrf_token": _token(page), "save_refs": "1"}
    fields.update({f"ref_{c}": f"REF-{i}" for i, c in enumerate(codes)})
    testapp.post("/backoffice/comptes/anne", fields, status=302)
    with portal_tx() as portal:
        assert dict(portal["households"][waiting].billing_refs) == {c: f"REF-{i}" for i, c in enumerate(codes)}
        assert any(e.action == "billing-refs-changed" for e in portal["journal"].for_target("account:anne"))
    bad = dict(fields, **{f"ref_{codes[0]}": "<script>"})
    response = testapp.post("/backoffice/comptes/anne", bad)
    assert 'aria-invalid="true"' in response.text
    with portal_tx() as portal:
        assert portal["households"][waiting].billing_refs[codes[0]] == "REF-0"


def test_closure_request_handled_by_staff(testapp, portal_tx, waiting):
    with portal_tx() as portal:
        household = portal["households"][waiting]
        portal["households"].request_closure(household, dt.datetime(2026, 3, 3, tzinfo=UTC))
    _staff(portal_tx, testapp, "val1", ("validator",))
    queue = testapp.get("/backoffice/comptes")
    assert "/backoffice/comptes/anne" in queue.text.split("Demandes de clôture de compte</h2>")[1]
    page = testapp.get("/backoffice/comptes/anne")
    testapp.post("/backoffice/comptes/anne", {"csrf_token": _token(page), "closure_done": "1"}, status=302)
    with portal_tx() as portal:
        assert portal["accounts"].get_by_code("anne").state == "closed"
        assert list(portal["households"].waiting_closures()) == []
        assert any(e.action == "account-closed" for e in portal["journal"].for_target("account:anne"))


def test_journal_view_for_admin(testapp, portal_tx, waiting):
    _staff(portal_tx, testapp, "admin1", ("admin",))
    testapp.get("/backoffice/comptes/anne")
    html = testapp.get("/backoffice/journal", {"cible": "account:anne"}).text
    assert "file-viewed" in html and "staff:admin1" in html


@pytest.mark.parametrize("roles", [("validator",), ("agent",), ("regie_manager",), ("admin",)])
def test_every_menu_link_opens_and_other_queues_are_refused(testapp, portal_tx, roles):
    from compte_citoyen.backoffice.views import SECTIONS
    _staff(portal_tx, testapp, "someone", roles)
    home = testapp.get("/backoffice/")
    menu = home.html.find("nav", class_="tabs")
    shown = {a["href"].replace("http://localhost", "") for a in menu.find_all("a")}
    assert "/backoffice/" in shown
    for path in shown:
        assert testapp.get(path).status_int == 200, path
    paths = {"bo_accounts": "/backoffice/comptes", "bo_requests": "/backoffice/demandes",
             "bo_invoices": "/backoffice/factures", "bo_staff": "/backoffice/agents",
             "bo_journal": "/backoffice/journal"}
    for section in SECTIONS:
        path = paths.get(section.route)
        if path and path not in shown:
            status = testapp.get(path, expect_errors=True).status_int
            assert status in (403, 404), (path, status)
    if "agent" in roles:
        assert "/backoffice/comptes" not in shown and "/backoffice/factures" not in shown
    if "regie_manager" in roles:
        assert "/backoffice/comptes" not in shown and "/backoffice/demandes" not in shown


def test_demo_data_fills_the_validation_queue(portal_tx, registry, testapp):
    from compte_citoyen.household import demo
    with portal_tx() as portal:
        lines = demo.compte_citoyen_demo_data(portal, registry)
        again = demo.compte_citoyen_demo_data(portal, registry)
    assert len(lines) == 4 and all("déjà présent" in line for line in again[1:])
    _staff(portal_tx, testapp, "val1", ("validator",))
    rows = testapp.get("/backoffice/comptes").html.find("table", class_="queue").find("tbody").find_all("tr")
    assert [r.find("a").text for r in rows] == ["attente-moreau", "attente-nguyen", "attente-leroy"]
    assert ["en retard" in r.text for r in rows] == [True, False, False]
