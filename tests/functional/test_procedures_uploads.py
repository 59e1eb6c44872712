"""Supporting documents: checked on their content, stored as ZODB blobs, a refused file keeps the rest."""
import re

import pytest
import webtest
from ZODB.blob import Blob

from compte_citoyen.procedures import uploads
from compte_citoyen.testing import (
    create_child, create_citizen, form_page, login_citizen, pdf_bytes, png_bytes,
)


@pytest.fixture
def small_uploads(settings):
    settings["compte_citoyen.procedures.max_upload_bytes"] = "20000"


@pytest.fixture
def documents_page(small_uploads, testapp, portal_tx):
    """The "Pièces justificatives" page of a school enrolment, pages 1 and 2 filled (uploads up to 20 kB)."""
    with portal_tx() as portal:
        _account, household = create_citizen(portal)
        create_child(household, "Lucas")
    login_citizen(testapp)
    response = testapp.get("/services/scolaire/inscription_scolaire")
    form = form_page(response)
    form["level"] = "CP"
    response = form.submit("next").follow()
    form = form_page(response)
    form["school"] = "École Jules Ferry"
    response = form.submit("next").follow()
    assert "Étape 3 sur 4" in response.text and "Pièces justificatives" in response.text
    return response


def error_of(response, code: str) -> str:
    match = re.search(rf'id="error-{code}">(.*?)</p>', response.text, re.S)
    return " ".join(re.sub(r"<[^>]+>", "", match.group(1)).split()) if match else ""


def stored(portal_tx):
    with portal_tx() as portal:
        draft = next(iter(portal["procedure_drafts"].values()))
        return {code: (a.filename, a.content_type, a.size, a.read(), isinstance(a.blob, Blob))
                for code, a in draft.attachments.items()}, dict(draft.paper)


def test_good_files_are_stored_as_blobs(documents_page, portal_tx):
    form = form_page(documents_page)
    pdf, png = pdf_bytes(), png_bytes()
    form["file-address_proof"] = webtest.Upload("justificatif.pdf", pdf, "application/pdf")
    form["file-family_book"] = webtest.Upload("livret.PNG", png, "image/png")
    form["paper-vaccinations"] = True
    response = form.submit("next")
    assert response.status_int == 302 and "etape=4" in response.location
    attachments, paper = stored(portal_tx)
    assert attachments["address_proof"] == ("justificatif.pdf", "application/pdf", len(pdf), pdf, True)
    assert attachments["family_book"][:2] == ("livret.png", "image/png") and attachments["family_book"][3] == png
    assert paper == {"vaccinations": True}
    html = response.follow().text
    assert "Fichier joint : justificatif.pdf" in html and "Je l'apporterai au guichet" in html


def test_required_documents_need_a_file_or_the_counter(documents_page):
    response = form_page(documents_page).submit("next")
    assert response.status_int == 200
    for code in ("address_proof", "family_book", "vaccinations"):
        assert "Joignez ce document, ou cochez « Je l'apporterai au guichet »." in error_of(response, code)
    assert error_of(response, "custody") == ""  # optional
    assert 'aria-invalid="true"' in response.text


def test_too_large_file_refused_rest_kept(documents_page, portal_tx):
    form = form_page(documents_page)
    form["file-address_proof"] = webtest.Upload("gros.pdf", pdf_bytes() + b"%" * 30000 + b"\n%%EOF\n",
                                                "application/pdf")
    form["file-family_book"] = webtest.Upload("livret.pdf", pdf_bytes(), "application/pdf")
    form["paper-vaccinations"] = True
    response = form.submit("next")
    assert response.status_int == 200
    assert "trop volumineux" in error_of(response, "address_proof")
    assert "apportez le document au guichet" in error_of(response, "address_proof")
    assert "Fichier joint : livret.pdf" in response.text  # the rest of the form is kept
    assert 'id="paper-vaccinations" name="paper-vaccinations" value="1" checked="checked"' in response.text
    attachments, paper = stored(portal_tx)
    assert set(attachments) == {"family_book"} and paper == {"vaccinations": True}


def test_wrong_content_behind_a_pdf_name_refused(documents_page, portal_tx):
    form = form_page(documents_page)
    form["file-address_proof"] = webtest.Upload("facture.pdf", b"MZ\x90\x00 this is an executable" * 20,
                                                "application/pdf")
    form["file-family_book"] = webtest.Upload("photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00broken" * 30, "image/png")
    response = form.submit("next")
    assert response.status_int == 200
    assert "n'est pas un document PDF, JPEG ou PNG" in error_of(response, "address_proof")
    assert "n'est pas un document PDF, JPEG ou PNG" in error_of(response, "family_book")
    assert stored(portal_tx)[0] == {}


def test_path_in_the_file_name_is_removed(documents_page, portal_tx):
    form = form_page(documents_page)
    form["file-address_proof"] = webtest.Upload("C:\\Users\\moi\\Documents\\scan du 12:03.pdf", pdf_bytes(),
                                                "application/pdf")
    form["file-family_book"] = webtest.Upload("../../../etc/passwd.pdf", pdf_bytes(), "application/pdf")
    form["file-custody"] = webtest.Upload("jugement.exe", png_bytes(), "application/octet-stream")
    form.submit("save_draft")
    attachments, _paper = stored(portal_tx)
    assert attachments["address_proof"][0] == "scan du 12_03.pdf"
    assert attachments["family_book"][0] == "passwd.pdf"
    assert attachments["custody"][:2] == ("jugement.png", "image/png")  # the extension of the real type


def test_remove_a_file(documents_page, portal_tx):
    form = form_page(documents_page)
    form["file-address_proof"] = webtest.Upload("a.pdf", pdf_bytes(), "application/pdf")
    response = form.submit("save_draft").follow()
    assert "Fichier joint : a.pdf" in response.text
    response = form_page(response).submit("remove", value="address_proof").follow()
    assert "Fichier joint" not in response.text
    assert stored(portal_tx)[0] == {}


def test_files_reach_the_request_and_the_acknowledgement_lists_paper(documents_page, portal_tx):
    form = form_page(documents_page)
    pdf = pdf_bytes()
    form["file-address_proof"] = webtest.Upload("domicile.pdf", pdf, "application/pdf")
    for code in ("family_book", "vaccinations"):
        form[f"paper-{code}"] = True
    response = form_page(form.submit("next").follow()).submit("submit")
    number = response.location.rsplit("/", 1)[1]
    with portal_tx() as portal:
        submission = portal["submissions"][number]
        documents = submission.documents
        assert documents["address_proof"].mode == "file"
        assert documents["address_proof"].attachment.read() == pdf
        assert documents["family_book"].mode == "paper" and documents["custody"].mode == "missing"
        ack = [m for m in portal["outbox"].for_request(number) if m.kind == "acknowledgement"][0]
        assert "Livret de famille" in ack.text and "Carnet de santé" in ack.text


@pytest.mark.parametrize("name, data, expected", [
    ("a.pdf", b"%PDF-1.4\n...\n%%EOF\n", uploads.PDF),
    ("a.pdf", b"%PDF-1.4 truncated", None),
    ("a.jpg", b"\xff\xd8\xff\xe0 not really", None),
    ("a.txt", b"hello", None),
])
def test_sniff(name, data, expected):
    assert uploads.sniff(data) == expected


def test_sniff_real_images():
    import io

    from PIL import Image
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="JPEG")
    assert uploads.sniff(buffer.getvalue()) == uploads.JPEG
    assert uploads.sniff(png_bytes()) == uploads.PNG


def test_clean_filename():
    assert uploads.clean_filename("/tmp/../x/évier<script>.PDF", uploads.PDF) == "évier_script.pdf"
    assert uploads.clean_filename("\x00\x1f..", uploads.PNG) == "document.png"
    assert len(uploads.clean_filename("a" * 500 + ".pdf", uploads.PDF)) <= 100
