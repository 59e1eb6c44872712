"""État civil: requests for birth, marriage and death certificates, open to everyone without an account.

Entry point ``etat_civil`` (group ``compte_citoyen``). The three procedures ask the cryptogramme and an e-mail
address; the acknowledgement carries a personal tracking link. The rules follow the French civil registry:
a full copy (copie intégrale) or an extract with parentage (extrait avec filiation) of a birth or marriage
certificate is given only to the person concerned, their spouse, ascendants, descendants, legal
representative, or an authorised professional; anyone may obtain an extract without parentage, and any death
certificate.
"""
from __future__ import annotations

import colander

from compte_citoyen.i18n import _
from compte_citoyen.plugins import hookimpl
from compte_citoyen.procedures import schemas as s
from compte_citoyen.procedures.registry import NO_MEMBER, Procedure, Theme

SERVICE = "etat_civil"

FULL_COPY = "copie_integrale"
WITH_PARENTAGE = "extrait_avec_filiation"
WITHOUT_PARENTAGE = "extrait_sans_filiation"
MULTILINGUAL = "extrait_plurilingue"
DOCUMENT_TYPES = {
    FULL_COPY: _("Full copy (copie intégrale)"),
    WITH_PARENTAGE: _("Extract with parentage (extrait avec filiation)"),
    WITHOUT_PARENTAGE: _("Extract without parentage (extrait sans filiation)"),
    MULTILINGUAL: _("Multilingual extract (extrait plurilingue, for use abroad)"),
}
#: the documents restricted to the people of ``ENTITLED``
RESTRICTED = {FULL_COPY, WITH_PARENTAGE}

QUALITIES = {
    "self": _("The person concerned"),
    "spouse": _("Their spouse"),
    "parent": _("Their father or mother"),
    "grandparent": _("Their grandparent"),
    "child": _("Their child"),
    "legal_representative": _("Their legal representative (guardian...)"),
    "heir": _("Their heir"),
    "professional": _("An authorised professional (notary, lawyer...)"),
    "other": _("Another person"),
}
ENTITLED = {"self", "spouse", "parent", "grandparent", "child", "legal_representative", "professional"}


def _values(mapping: dict, codes) -> list[tuple[str, object]]:
    return [(code, mapping[code]) for code in codes]


def _document_nodes(types, qualities) -> list[colander.SchemaNode]:
    return [
        s.choice("document_type", _("Document asked"), _values(DOCUMENT_TYPES, types)),
        s.integer("copies", _("Number of copies"), minimum=1, maximum=5, default=1),
        s.choice("quality", _("You are"), _values(QUALITIES, qualities)),
    ]


def _entitlement(node, value):
    """The registry's rule: a full copy or an extract with parentage only for the people entitled."""
    if value.get("document_type") in RESTRICTED and value.get("quality") not in ENTITLED:
        exc = colander.Invalid(node)
        exc["document_type"] = _("You may ask only for an extract without parentage (or a multilingual extract) "
                                 "of this certificate: a full copy or an extract with parentage is given only "
                                 "to the person concerned, their family, legal representative or an authorised "
                                 "professional.")
        raise exc


def _birth_rules(node, value):
    errors = colander.Invalid(node)
    if value.get("document_type") in (FULL_COPY, WITH_PARENTAGE) and not (
            value.get("father_family_name") or value.get("mother_family_name")):
        errors["father_family_name"] = _("A full copy or an extract with parentage needs the name of at least "
                                         "one parent.")
    try:
        _entitlement(node, value)
    except colander.Invalid as exc:
        for child in exc.children:
            errors.add(child)
    if errors.children:
        raise errors


def birth_page(request=None) -> colander.SchemaNode:
    return s.mapping("certificate", [
        s.text("person_family_name", _("Birth name of the person concerned")),
        s.text("person_first_names", _("First names of the person concerned")),
        s.date("event_date", _("Date of birth"), past=True),
        s.text("event_place", _("Place of birth (town)"), default=s.city_name_default),
        s.text("father_family_name", _("Father's family name"), required=False,
               description=_("Needed for a full copy or an extract with parentage (leave empty if unknown).")),
        s.text("father_first_names", _("Father's first names"), required=False),
        s.text("mother_family_name", _("Mother's birth name"), required=False),
        s.text("mother_first_names", _("Mother's first names"), required=False),
        *_document_nodes([FULL_COPY, WITH_PARENTAGE, WITHOUT_PARENTAGE, MULTILINGUAL], list(QUALITIES)),
    ], validator=_birth_rules)


def marriage_page(request=None) -> colander.SchemaNode:
    qualities = ["self", "parent", "grandparent", "child", "legal_representative", "heir", "professional", "other"]
    return s.mapping("certificate", [
        s.text("spouse1_family_name", _("First spouse: birth name")),
        s.text("spouse1_first_names", _("First spouse: first names")),
        s.text("spouse2_family_name", _("Second spouse: birth name")),
        s.text("spouse2_first_names", _("Second spouse: first names")),
        s.date("event_date", _("Date of the marriage"), past=True),
        s.text("event_place", _("Place of the marriage (town)"), default=s.city_name_default),
        *_document_nodes([FULL_COPY, WITH_PARENTAGE, WITHOUT_PARENTAGE, MULTILINGUAL], qualities),
    ], validator=_entitlement)


def death_page(request=None) -> colander.SchemaNode:
    qualities = ["spouse", "parent", "child", "legal_representative", "heir", "professional", "other"]
    return s.mapping("certificate", [
        s.text("person_family_name", _("Family name of the deceased person")),
        s.text("person_first_names", _("First names of the deceased person")),
        s.date("event_date", _("Date of death"), past=True),
        s.text("event_place", _("Place of death (town)"), default=s.city_name_default),
        *_document_nodes([FULL_COPY, MULTILINGUAL], qualities),
    ])


def requester_page(request=None) -> colander.SchemaNode:
    return s.mapping("requester", [
        s.choice("civility", _("Civility"), [("Mme", _("Madam")), ("M.", _("Sir"))], required=False),
        s.text("family_name", _("Your family name"), autocomplete="family-name", default=s.holder_family_name),
        s.text("first_names", _("Your first names"), autocomplete="given-name", default=s.holder_first_names),
        s.text("email", _("Your e-mail address"), validator=s.email_validator, autocomplete="email",
               input_type="email", max_length=254, default=s.holder_email,
               description=_("The acknowledgement of receipt and the link to follow your request are sent there.")),
        s.text("phone", _("Your phone number"), required=False, validator=s.phone_validator, autocomplete="tel",
               input_type="tel", max_length=20, default=s.holder_phone),
        # delivery address: pre-filled for a logged-in citizen, empty for a visitor without an account
        *s.address_nodes(prefilled=True, country=True),
    ])


def _procedure(code: str, title, description, page) -> Procedure:
    return Procedure(
        code=code, title=title, description=description,
        steps=[(_("The certificate"), page), (_("The requester and the delivery address"), requester_page)],
        account_required=False, captcha=True, service=SERVICE, member_kinds=NO_MEMBER,
    )


@hookimpl
def compte_citoyen_configure(config):
    config.add_translation_dirs("compte_citoyen_theme_etat_civil:locale/")


@hookimpl
def compte_citoyen_register_themes(settings):
    procedures = [
        _procedure("acte_naissance", _("Birth certificate request"),
                   _("For a birth that took place in the city; sent by post."), birth_page),
        _procedure("acte_mariage", _("Marriage certificate request"),
                   _("For a marriage celebrated in the city; sent by post."), marriage_page),
        _procedure("acte_deces", _("Death certificate request"),
                   _("For a death that occurred in the city; sent by post."), death_page),
    ]
    return [Theme("etat_civil", _("Civil status"), procedures,
                  description=_("Birth, marriage and death certificates, without an account."))]
