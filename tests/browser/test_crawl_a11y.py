"""Every page a citizen or an administrator can reach by following links, on demonstration data, passes axe.

The journeys test what people do; this crawl makes sure no page is left out of the accessibility scan: it
follows every same-site link (GET only, never a form) from the citizen's "Accueil" and from the back office's
home, and scans each page once.
"""
from __future__ import annotations

import re
from urllib.parse import urldefrag, urlsplit

import pyotp
import pytest

from compte_citoyen import testing

pytestmark = pytest.mark.browser

SKIP = re.compile(r"(\.(pdf|json|png|wav|csv)(\?|$))|/deconnexion|/paiement/|/cryptogramme/|/static/|export")
LIMIT = 60


def crawl(page, start: str, prefix: str | None = None) -> list[str]:
    base = urlsplit(page.base_url)
    seen: set[str] = set()
    queue = [start]
    visited = []
    while queue and len(visited) < LIMIT:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        response = page.goto(path)
        assert response is not None and response.status < 400, f"{path}: {response and response.status}"
        page.check_a11y()
        visited.append(path)
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
            url = urlsplit(urldefrag(href)[0])
            if url.netloc != base.netloc:
                continue
            target = url.path + (f"?{url.query}" if url.query else "")
            if SKIP.search(target) or (prefix and not url.path.startswith(prefix)) or target in seen:
                continue
            queue.append(target)
    return visited


def demo_data(live_server) -> str:
    with live_server.portal() as portal:
        live_server.registry.compte_citoyen_plugins.hook.compte_citoyen_demo_data(
            portal=portal, registry=live_server.registry)
        return portal["staff"]["demo-admin"].totp_secret


def test_every_citizen_page_reachable_from_accueil(browser_page, live_server):
    demo_data(live_server)
    testing.browser_citizen_login(browser_page, "demo", "demo-compte-citoyen")
    visited = crawl(browser_page, "/accueil")
    for expected in ("/accueil", "/services", "/demandes", "/comptes", "/mon-compte", "/panier",
                     "/mon-compte/mot-de-passe", "/mon-compte/communication", "/mon-compte/adresse", "/aide"):
        assert expected in visited, (expected, visited)
    assert any(p.startswith("/services/") for p in visited)
    assert any(p.startswith("/mon-compte/membres/") for p in visited)


def test_every_back_office_page_reachable_by_an_administrator(browser_page, live_server):
    secret = demo_data(live_server)
    testing.browser_staff_login(browser_page, "demo-admin", secret, password="demo-agent-clairval")
    visited = crawl(browser_page, "/backoffice/", prefix="/backoffice/")
    for expected in ("/backoffice/comptes", "/backoffice/demandes", "/backoffice/messages", "/backoffice/journal",
                     "/backoffice/agents", "/backoffice/factures"):
        assert expected in visited, (expected, visited)
    assert any(p.startswith("/backoffice/comptes/") for p in visited)
    assert any(p.startswith("/backoffice/demandes/") for p in visited)
