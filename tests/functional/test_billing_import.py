"""Invoices from outside the back office: CSV files (all or nothing, errors by line) and invoice sources."""
import datetime

import pytest

from compte_citoyen.billing.csvimport import import_csv
from compte_citoyen.billing.models import INVOICES
from compte_citoyen.billing.sources import InvoiceData, InvoiceImportError, InvoiceLineData, InvoiceSource
from compte_citoyen.testing import create_child, create_citizen, create_invoice

HEADER = "numero;compte;date_emission;date_echeance;membre;libelle;montant;objet\n"


@pytest.fixture
def household(portal_tx):
    with portal_tx() as portal:
        _account, household = create_citizen(portal, validated=True)
        create_child(household, "Lucas")
        create_invoice(portal, household, "ville", "V-EXISTE", 1000)
        return household.id


def errors_of(portal, data: str, regie="ville"):
    with pytest.raises(InvoiceImportError) as refused:
        import_csv(portal, regie, data.encode("utf-8"), "test.csv")
    return [(line, message.interpolate() if hasattr(message, "interpolate") else str(message))
            for line, message in refused.value.errors]


def test_csv_import_with_bad_rows_reports_every_line_and_imports_nothing(portal_tx, household):
    data = (HEADER
            + "V-100;jdupont;01/11/2026;30/11/2026;Lucas;Cantine novembre;42,50;Novembre\n"   # 2 good
            + "V-100;jdupont;01/11/2026;30/11/2026;Lucas;Garderie;12.5;\n"                     # 3 good, same invoice
            + "V-101;jdupont;31/02/2026;30/11/2026;;Cantine;10,00;\n"                          # 4 bad date
            + "V-102;personne;01/11/2026;30/11/2026;;Cantine;10,00;\n"                         # 5 unknown account
            + "V-103;jdupont;01/11/2026;30/11/2026;;Cantine;dix euros;\n"                      # 6 bad amount
            + "V-EXISTE;jdupont;01/11/2026;30/11/2026;;Cantine;10,00;\n"                       # 7 duplicate number
            + "V-104;jdupont;01/11/2026;30/11/2026;Paul;Cantine;10,00;\n"                      # 8 unknown member
            + "V-105;jdupont;01/12/2026;30/11/2026;;Cantine;10,00;\n"                          # 9 due before issue
            + "V-106;jdupont;01/11/2026;30/11/2026;;;10,00;\n"                                 # 10 no label
            + "V-100;voisin;01/11/2026;30/11/2026;;Cantine;10,00;\n")                          # 11 differs
    with portal_tx() as portal:
        errors = errors_of(portal, data)
    lines = [line for line, _message in errors]
    assert lines == [4, 5, 6, 7, 8, 9, 10, 11]
    text = dict(errors)
    assert "31/02/2026" in text[4]
    assert "personne" in text[5]
    assert "dix euros" in text[6]
    assert "V-EXISTE" in text[7]
    assert "Paul" in text[8]
    assert "due date" in text[9]
    assert "libelle" in text[10]
    assert "line 2" in text[11]
    with portal_tx() as portal:  # nothing half-imported
        assert portal[INVOICES].get_invoice("ville", "V-100") is None
        assert len(portal[INVOICES]) == 1


def test_csv_import_all_good(portal_tx, household):
    data = (HEADER
            + "V-100;JDupont;01/11/2026;30/11/2026;Lucas;Cantine novembre;42,50;Novembre\n"
            + "V-100;jdupont;01/11/2026;30/11/2026;lucas dupont;Garderie;12.5;\n"
            + "\n"
            + "V-101;jdupont;2026-11-02;2026-12-02;;Portage;-1,00;\n"
            + "V-101;jdupont;2026-11-02;2026-12-02;;Portage;9;\n")
    with portal_tx() as portal:
        invoices = import_csv(portal, "ville", data.encode("utf-8"), "nov.csv")
        assert [i.number for i in invoices] == ["V-100", "V-101"]
    with portal_tx() as portal:
        invoice = portal[INVOICES].get_invoice("ville", "V-100")
        assert invoice.total == 5500 and isinstance(invoice.total, int)
        assert [(line.label, line.amount, line.member_name) for line in invoice.lines] == [
            ("Cantine novembre", 4250, "Lucas Dupont"), ("Garderie", 1250, "Lucas Dupont")]
        assert invoice.issue_date == datetime.date(2026, 11, 1) and invoice.label == "Novembre"
        assert invoice.household_id == household and invoice.source == "csv:nov.csv"
        assert portal[INVOICES].get_invoice("ville", "V-101").total == 800
        assert [i.number for i in portal[INVOICES].for_household(household)] == ["V-EXISTE", "V-101", "V-100"]


def test_csv_missing_columns_and_encoding(portal_tx, household):
    with portal_tx() as portal:
        assert errors_of(portal, "numero;compte\nV-1;jdupont\n")[0][0] == 1
        with pytest.raises(InvoiceImportError) as refused:
            import_csv(portal, "ville", HEADER.encode("utf-8") + "V-1;jdupont;01/11/2026;30/11/2026;;Crèche;1;\n"
                       .encode("latin-1"))
        assert "UTF-8" in refused.value.errors[0][1].interpolate()


def test_import_command(tmp_path, capsys):
    """``compte-citoyen INI import-invoices --regie CODE FILE``: errors with line numbers, exit 2, nothing stored."""
    from compte_citoyen import cli
    from compte_citoyen.testing import base_settings, write_ini
    settings = base_settings(tmp_path)
    ini = write_ini(tmp_path / "test.ini", settings)
    env = cli.load_env(ini)
    try:
        with env.transaction() as (_tm, portal):
            create_citizen(portal, validated=True)
    finally:
        env.closer()
        env.db.close()
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "V-1;jdupont;01/11/2026;30/11/2026;;Cantine;10,00;\n"
                   + "V-2;jdupont;01/11/2026;30/11/2026;;Cantine;abc;\n", encoding="utf-8")
    assert cli.main([ini, "import-invoices", "--regie", "ville", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "ligne 3 : montant « abc » invalide" in err and "nothing imported" in err
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "V-1;jdupont;01/11/2026;30/11/2026;;Cantine;10,00;\n", encoding="utf-8")
    assert cli.main([ini, "import-invoices", "--regie", "ville", str(good)]) == 0
    assert "1 invoice(s) imported" in capsys.readouterr().out
    assert cli.main([ini, "import-invoices", "--regie", "ville", str(good)]) == 2  # already there
    assert "existe déjà" in capsys.readouterr().err
    assert cli.main([ini, "import-invoices", "--regie", "nope", str(good)]) == 2
    assert cli.main([ini, "poll-payments"]) == 0
    assert "0 payment(s) settled" in capsys.readouterr().out


class FakeSource:
    """A plugin declaring an invoice source, as an integrator would."""

    def __init__(self, records):
        self.records = records
        self.calls = []

    def fetch(self, registry, since):
        self.calls.append(since)
        return list(self.records)

    from compte_citoyen.plugins import hookimpl

    @hookimpl
    def compte_citoyen_register_invoice_sources(self, settings):
        return [InvoiceSource("logiciel_ccas", "ccas", self.fetch, "export of the CCAS billing software")]


def test_invoice_source_plugin(registry, portal_tx, household):
    from compte_citoyen.billing.sources import get_sources, import_from_source
    source = FakeSource([
        InvoiceData("C-1", datetime.date(2026, 11, 2), datetime.date(2026, 12, 2),
                    [InvoiceLineData("Portage de repas", 9000)], account="jdupont"),
    ])
    registry.compte_citoyen_plugins.register(source, name="fake-source")
    assert "logiciel_ccas" in get_sources(registry)
    with portal_tx() as portal:
        (invoice,) = import_from_source(portal, registry, "logiciel_ccas")
        assert invoice.regie == "ccas" and invoice.source == "source:logiciel_ccas"
    assert source.calls == [None]
    # the same checks as a CSV file: a bad record refuses the whole batch
    source.records = [
        InvoiceData("C-2", datetime.date(2026, 11, 2), datetime.date(2026, 12, 2),
                    [InvoiceLineData("Aide", 100)], account="jdupont"),
        InvoiceData("C-1", datetime.date(2026, 11, 2), datetime.date(2026, 12, 2),
                    [InvoiceLineData("Aide", 12.5)], account="jdupont"),
    ]
    with portal_tx() as portal, pytest.raises(InvoiceImportError) as refused:
        import_from_source(portal, registry, "logiciel_ccas")
    assert [line for line, _m in refused.value.errors] == [2, 2]
    with portal_tx() as portal:
        assert portal[INVOICES].get_invoice("ccas", "C-2") is None
    assert source.calls[1] is not None  # the next fetch asks for what is new since the last import
