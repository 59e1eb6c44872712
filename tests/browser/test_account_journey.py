"""The FAQ's account journey in a real browser: create the account, log out, log in, recover a lost password
through the e-mail received by the local SMTP server. Every page is scanned by axe."""
from __future__ import annotations

import re

import pytest

from compte_citoyen.testing import FIXED_CAPTCHA, SMTPServer
from compte_citoyen.testing import labelled_field as field

pytestmark = pytest.mark.browser

PASSWORD = "un cheval blanc sous la pluie"
NEW_PASSWORD = "le vent se lève il faut tenter de vivre"


def log_in(page, code: str, password: str) -> None:
    field(page, "Utilisateur").fill(code)
    field(page, "Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()


def test_account_journey(smtp_server, browser_page, live_server):
    from compte_citoyen.notification.worker import deliver_due
    page = browser_page

    # 1. Home page: under "Créer votre compte", the "Confirmer" button
    page.goto("/")
    page.check_a11y()
    page.get_by_role("link", name="Confirmer").click()
    page.wait_for_url("**/creer-votre-compte")
    page.check_a11y()

    # 2. Read and accept the general terms (refused without acceptance)
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_load_state()
    page.check_a11y()
    assert page.get_by_role("alert").first.is_visible()
    page.get_by_label("J’ai lu et j’accepte les conditions générales").check()
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_url("**/creer-votre-compte/formulaire")
    page.check_a11y()

    # 3-5. The information, the code d'accès and the password, the secret question, the cryptogramme
    field(page, "Civilité").select_option(label="Madame")
    field(page, "Nom de famille").fill("Lefèvre")
    field(page, "Prénoms").fill("Anne Sophie")
    field(page, "Date de naissance").fill("1979-05-21")
    field(page, "Adresse").fill("8 avenue des Tilleuls")
    field(page, "Code postal").fill("75001")
    field(page, "Ville").fill("Clairval")
    field(page, "Adresse électronique").fill("anne.lefevre@example.org")
    field(page, "Téléphone").fill("01 44 55 66 77")
    field(page, "Téléphone mobile").fill("06 44 55 66 77")
    field(page, "Code d'accès").fill("alefevre")
    field(page, "Mot de passe").fill(PASSWORD)
    field(page, "Confirmation du mot de passe").fill(PASSWORD)
    field(page, "Question secrète").select_option(label="Quel est le nom de votre premier animal ?")
    field(page, "Réponse").fill("Pistache")
    image = page.locator("img.captcha__image")
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    field(page, "Cryptogramme").fill(FIXED_CAPTCHA.lower())

    # 6. "Enregistrer"
    page.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url("**/creer-votre-compte/termine")
    page.check_a11y()
    assert page.get_by_role("heading", level=1).inner_text() == "Votre compte est créé."

    # log out
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url(live_server.url + "/")
    page.check_a11y()

    # log in from the home page's box
    log_in(page, "ALefevre", PASSWORD)
    page.wait_for_url("**/accueil")
    page.check_a11y()
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url(live_server.url + "/")
    page.check_a11y()

    # lost password: the code d'accès in the login box, then "Mot de passe oublié"
    field(page, "Utilisateur").fill("alefevre")
    page.get_by_role("link", name="Mot de passe oublié").click()
    page.wait_for_url("**/mot-de-passe-oublie/question?code=alefevre")
    page.check_a11y()
    assert page.locator("#secret-question").inner_text() == "Quel est le nom de votre premier animal ?"
    field(page, "Réponse").fill("pistache")
    page.get_by_role("button", name="Confirmer").click()
    page.wait_for_url("**/mot-de-passe-oublie/envoye")
    page.check_a11y()

    # the e-mail received by the local SMTP server (acknowledgement, then the link)
    deliver_due(live_server.registry)
    mails = smtp_server.wait_for(2)
    reset_mail = next(m for m in mails if "nouveau mot de passe" in m["Subject"].lower())
    assert reset_mail["To"] == "anne.lefevre@example.org"
    body = SMTPServer.text_of(reset_mail)
    assert PASSWORD not in body
    link = re.search(r"(http://127\.0\.0\.1:\d+/nouveau-mot-de-passe/\S+)", body).group(1)
    page.goto(link)
    page.check_a11y()
    field(page, "Nouveau mot de passe").fill(NEW_PASSWORD)
    field(page, "Confirmation du nouveau mot de passe").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url("**/connexion?code=alefevre")
    page.check_a11y()
    field(page, "Mot de passe").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/accueil")
    page.check_a11y()
