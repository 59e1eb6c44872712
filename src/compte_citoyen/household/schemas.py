"""Colander schemas of the household forms: members (adult / child), the communication preference and the
household's postal address."""
from __future__ import annotations

import colander
import deform

# one reading of French phone numbers; the core's one date field
from ..authentication.schemas import POSTCODE_RE, normalise_phone
from ..forms import DateField, DateWidget, birth_date_validator
from ..i18n import _
from .models import ADULT, COMMUNICATION_CHOICES, EMAIL, PHONE, SMS

NAME_MAX = 100
TEXT_MAX = 1000
ADDRESS_MAX = 300  # same limit as the address typed when the account was created

SEX_CHOICES = (("F", _("Female")), ("M", _("Male")))
CIVILITY_CHOICES = (("Mme", _("Mrs")), ("M.", _("Mr")))

#: Relation of a member to the account holder; the holder's own relation ("holder") is not offered.
ADULT_RELATIONS = (
    ("spouse", _("Spouse or partner")),
    ("parent", _("Parent")),
    ("adult_child", _("Adult son or daughter")),
    ("other_adult", _("Other adult")),
)
CHILD_RELATIONS = (
    ("child", _("Son or daughter")),
    ("grandchild", _("Grandchild")),
    ("ward", _("Child in your care")),
    ("other_child", _("Other child")),
)
HOLDER_RELATION = ("holder", _("Account holder"))
RELATION_LABELS = dict(ADULT_RELATIONS + CHILD_RELATIONS + (HOLDER_RELATION,))

COMMUNICATION_LABELS = {
    EMAIL: _("E-mail"),
    PHONE: _("Phone"),
    SMS: _("SMS"),
}

MOBILE_PREFIXES = ("06", "07")


def format_phone(value: str) -> str:
    """``0612345678`` -> ``06 12 34 56 78`` (for display); anything else as stored."""
    digits = normalise_phone(value)
    if digits is None:
        return value or ""
    return " ".join(digits[i:i + 2] for i in range(0, 10, 2))


class PhoneType(colander.String):
    """A French phone number, stored normalised (``0123456789``)."""

    def __init__(self, mobile: bool = False):
        super().__init__()
        self.mobile = mobile

    def deserialize(self, node, cstruct):
        value = super().deserialize(node, cstruct)
        if value in (colander.null, None) or not str(value).strip():
            return colander.null
        digits = normalise_phone(value)
        if digits is None or (self.mobile and digits[:2] not in MOBILE_PREFIXES):
            if self.mobile:
                raise colander.Invalid(node, _("Enter a French mobile number of 10 digits starting with 06 or 07, "
                                               "for example 06 12 34 56 78."))
            raise colander.Invalid(node, _("Enter a French phone number of 10 digits, for example 01 23 45 67 89."))
        return digits

    def serialize(self, node, appstruct):
        if appstruct in (colander.null, None, ""):
            return colander.null
        return format_phone(appstruct)


def _name_node(name: str, title, description=None, autocomplete: str | None = None):
    return colander.SchemaNode(
        colander.String(), name=name, title=title, description=description,
        validator=colander.Length(min=1, max=NAME_MAX, max_err=_("At most ${max} characters.")),
        preparer=lambda v: " ".join(v.split()) if isinstance(v, str) else v,
        missing_msg=_("Enter this information."),
        widget=deform.widget.TextInputWidget(autocomplete=autocomplete) if autocomplete
        else deform.widget.TextInputWidget())


def _optional_text(name: str, title, description=None, textarea: bool = False, max_len: int = NAME_MAX):
    widget = deform.widget.TextAreaWidget(rows=4) if textarea else deform.widget.TextInputWidget()
    return colander.SchemaNode(colander.String(), name=name, title=title, description=description,
                               missing="", validator=colander.Length(max=max_len,
                                                                     max_err=_("At most ${max} characters.")),
                               widget=widget)


def member_schema(kind: str, holder: bool = False) -> colander.SchemaNode:
    """The form of a household member: names, birth date, sex, relation; contact details for adults,
    school and health notes (optional) for children. The holder's e-mail is required (acknowledgements)."""
    schema = colander.SchemaNode(colander.Mapping(), name="member")
    if kind == ADULT:
        schema.add(colander.SchemaNode(colander.String(), name="civility", title=_("Civility"),
                                       validator=colander.OneOf([c for c, _l in CIVILITY_CHOICES]),
                                       missing_msg=_("Choose a civility."),
                                       widget=deform.widget.RadioChoiceWidget(values=CIVILITY_CHOICES)))
    schema.add(_name_node("family_name", _("Family name"),
                          _("Pre-filled with the account's family name: keep it or type another one."),
                          autocomplete="family-name" if holder else None))
    schema.add(_name_node("first_names", _("First names"),
                          autocomplete="given-name" if holder else None))
    schema.add(colander.SchemaNode(DateField(_("Enter the date as day/month/year, for example 25/12/2015.")),
                                   name="birth_date", title=_("Birth date"),
                                   description=_("For example 25/12/2015 (day, month, year)."),
                                   validator=birth_date_validator(adult=holder),
                                   missing_msg=_("Enter the birth date."),
                                   widget=DateWidget(autocomplete="bday" if holder else None)))
    schema.add(colander.SchemaNode(colander.String(), name="sex", title=_("Sex"),
                                   validator=colander.OneOf([c for c, _l in SEX_CHOICES]),
                                   missing_msg=_("Choose the sex."),
                                   widget=deform.widget.RadioChoiceWidget(values=SEX_CHOICES)))
    if not holder:
        relations = ADULT_RELATIONS if kind == ADULT else CHILD_RELATIONS
        schema.add(colander.SchemaNode(
            colander.String(), name="relation", title=_("Relation to the account holder"),
            validator=colander.OneOf([c for c, _l in relations]), missing_msg=_("Choose the relation."),
            widget=deform.widget.SelectWidget(values=(("", _("— choose —")),) + relations)))
    if kind == ADULT:
        email_node = colander.SchemaNode(
            colander.String(), name="email", title=_("E-mail"),
            description=_("The city sends its acknowledgements to the account holder's address.") if holder
            else _("Optional."),
            validator=colander.All(colander.Length(max=254),
                                   colander.Email(msg=_("Enter a valid e-mail address, for example "
                                                        "nom@exemple.fr."))),
            missing_msg=_("Enter the e-mail address."),
            widget=deform.widget.TextInputWidget(input_type="email", autocomplete="email" if holder else None))
        if not holder:
            email_node.missing = ""
        schema.add(email_node)
        schema.add(colander.SchemaNode(PhoneType(), name="phone", title=_("Phone"), missing="",
                                       description=_("Optional. 10 digits, for example 01 23 45 67 89."),
                                       widget=deform.widget.TextInputWidget(
                                           input_type="tel", autocomplete="tel" if holder else None)))
        schema.add(colander.SchemaNode(PhoneType(mobile=True), name="mobile", title=_("Mobile"), missing="",
                                       description=_("Optional. Needed to receive SMS. For example 06 12 34 56 78."),
                                       widget=deform.widget.TextInputWidget(input_type="tel")))
    else:
        schema.add(_optional_text("school", _("School"), _("Optional.")))
        schema.add(_optional_text("school_class", _("Class"), _("Optional. For example CE2.")))
        schema.add(_optional_text("health_notes", _("Health notes"),
                                  _("Optional: allergies, treatment or anything the school or the nursery "
                                    "must know. Seen only by the services that need it."),
                                  textarea=True, max_len=TEXT_MAX))
    return schema


MEMBER_FIELDS = ("civility", "family_name", "first_names", "birth_date", "sex", "relation", "email", "phone",
                 "mobile", "school", "school_class", "health_notes")


def _preferences_validator(node, value):
    if value.get("communication") == SMS and not value.get("mobile"):
        error = colander.Invalid(node, _("To receive SMS, enter your mobile number."))
        error["mobile"] = _("To receive SMS, enter your mobile number (06 or 07 followed by 8 digits).")
        raise error


def preferences_schema() -> colander.SchemaNode:
    """How the city contacts the household: e-mail, phone or SMS (SMS needs a valid French mobile)."""
    choices = tuple((code, COMMUNICATION_LABELS[code]) for code in COMMUNICATION_CHOICES)
    schema = colander.SchemaNode(colander.Mapping(), name="preferences", validator=_preferences_validator)
    schema.add(colander.SchemaNode(
        colander.String(), name="communication", title=_("How do you want the city to contact you?"),
        description=_("Acknowledgements always come by e-mail. Decisions and information come by the means "
                      "you choose; with \"Phone\", a city agent calls you. Every message is also shown in "
                      "the portal."),
        validator=colander.OneOf(list(COMMUNICATION_CHOICES)), missing_msg=_("Choose a means of communication."),
        widget=deform.widget.RadioChoiceWidget(values=choices)))
    schema.add(colander.SchemaNode(PhoneType(mobile=True), name="mobile", title=_("Mobile"), missing="",
                                   description=_("Required for SMS. For example 06 12 34 56 78."),
                                   widget=deform.widget.TextInputWidget(input_type="tel", autocomplete="tel")))
    return schema


def _address_node(name: str, title, missing_msg, max_len: int | None, validator=None, preparer=None,
                  **widget_kw):
    if validator is None:
        validator = colander.Length(max=max_len, max_err=_("At most ${max} characters."))
    return colander.SchemaNode(
        colander.String(), name=name, title=title, missing_msg=missing_msg, validator=validator,
        preparer=preparer or (lambda v: " ".join(v.split()) if isinstance(v, str) else v),
        widget=deform.widget.TextInputWidget(**widget_kw))


def address_schema() -> colander.SchemaNode:
    """The household's postal address: what procedures pre-fill (bulky items, school...) and invoices show.

    The postcode is French (5 digits, spaces typed inside it are dropped: "75 001" is read as 75001)."""
    schema = colander.SchemaNode(colander.Mapping(), name="address")
    schema.add(_address_node("address", _("Address (number and street)"), _("Enter the number and the street."),
                             ADDRESS_MAX, autocomplete="address-line1"))
    schema.add(_address_node("postcode", _("Postcode"), _("Enter the postcode."), None,
                             validator=colander.Regex(POSTCODE_RE, _("A French postcode has 5 digits, "
                                                                     "for example 75001.")),
                             preparer=lambda v: "".join(v.split()) if isinstance(v, str) else v,
                             autocomplete="postal-code", inputmode="numeric"))
    schema.add(_address_node("city", _("Municipality"), _("Enter the municipality."), NAME_MAX,
                             autocomplete="address-level2"))
    return schema


ADDRESS_FIELDS = ("address", "postcode", "city")


__all__ = ["member_schema", "preferences_schema", "address_schema", "ADDRESS_FIELDS", "MEMBER_FIELDS",
           "RELATION_LABELS", "COMMUNICATION_LABELS",
           "SEX_CHOICES", "CIVILITY_CHOICES", "format_phone"]
