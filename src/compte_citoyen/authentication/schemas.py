"""Forms of the accounts area: account creation, new password (after a reset link), change of password."""
from __future__ import annotations

import hashlib
import hmac
import re

import colander
import deform

from ..forms import DateField, DateWidget, birth_date_validator
from ..i18n import _
from .captcha import captcha_node
from .models import code_key
from .passwords import MAX_LENGTH, MIN_LENGTH, password_problem

#: The secret questions offered (message ids; the account stores the id, shown translated).
SECRET_QUESTIONS = (
    _("What is the name of your first pet?"),
    _("In which town was your mother born?"),
    _("What is the first name of your childhood best friend?"),
    _("What was the name of your primary school?"),
    _("What was the make of your first car?"),
    _("What is the maiden name of your paternal grandmother?"),
    _("In which street did you live as a child?"),
    _("What is your favourite book?"),
)

CIVILITIES = (("Mme", _("Madam")), ("M.", _("Sir")))

#: earlier name of ``forms.DateField``, still imported by the billing back office
DateType = DateField

CODE_MIN, CODE_MAX = 4, 30
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
POSTCODE_RE = re.compile(r"^\d{5}$")
ANSWER_MIN = 2


def fake_question(secret: str, code: str) -> str:
    """A plausible question for an unknown code d'accès, always the same for the same code (no oracle)."""
    digest = hmac.new(secret.encode("utf-8"), ("secret-question:" + code_key(code)).encode("utf-8"),
                      hashlib.sha256).digest()
    return str(SECRET_QUESTIONS[int.from_bytes(digest[:4], "big") % len(SECRET_QUESTIONS)])


# --- French phone numbers -------------------------------------------------------------------------

def normalise_phone(value: str) -> str | None:
    """``01 23 45 67 89``, ``01.23.45.67.89``, ``+33 1 23 45 67 89`` -> ``0123456789``; None if not French."""
    digits = re.sub(r"[\s.\-()]", "", value or "")
    if digits.startswith("+33"):
        digits = "0" + digits[3:]
    elif digits.startswith("0033"):
        digits = "0" + digits[4:]
    if digits.startswith("00"):
        return None
    if re.fullmatch(r"0[1-9]\d{8}", digits):
        return digits
    return None


def phone_validator(node, value):
    if normalise_phone(value) is None:
        raise colander.Invalid(node, _("Enter a French number of 10 digits starting with 0 (for example "
                                       "01 23 45 67 89), or starting with +33."))


def mobile_validator(node, value):
    number = normalise_phone(value)
    if number is None or number[:2] not in ("06", "07"):
        raise colander.Invalid(node, _("Enter a French mobile number: 10 digits starting with 06 or 07 (for "
                                       "example 06 12 34 56 78), or +33 6 / +33 7."))


# --- fields shared by the forms -------------------------------------------------------------------

def _text(name, title, description=None, validator=None, missing=colander.required, autocomplete=None,
          max_length=200, **widget_kw):
    validators = [colander.Length(max=max_length, max_err=_("At most ${max} characters."))]
    if validator is not None:
        validators.append(validator)
    return colander.SchemaNode(
        colander.String(), name=name, title=title, description=description, missing=missing,
        validator=colander.All(*validators), preparer=lambda v: v.strip() if isinstance(v, str) else v,
        widget=deform.widget.TextInputWidget(autocomplete=autocomplete, **widget_kw),
        missing_msg=_("This field is required."))


def _password(name, title, description=None, autocomplete="new-password"):
    return colander.SchemaNode(
        colander.String(), name=name, title=title, description=description,
        widget=deform.widget.PasswordWidget(autocomplete=autocomplete, redisplay=False, strip=False),
        missing_msg=_("This field is required."))


def new_password_nodes(title=None, confirm_title=None) -> list[colander.SchemaNode]:
    return [
        _password("password", title or _("Password"),
                  _("At least ${min} characters, with no other rule: a sentence you remember easily is a good "
                    "choice. Avoid common passwords; up to ${max} characters, all are kept.",
                    mapping={"min": MIN_LENGTH, "max": MAX_LENGTH})),
        _password("password_confirm", confirm_title or _("Password confirmation"),
                  _("Type the same password again.")),
    ]


def check_new_password(form, value, code: str | None = None) -> None:
    """Schema-level check: policy on the password, equality on the confirmation (errors on their fields)."""
    exc = colander.Invalid(form)
    problem = password_problem(value.get("password") or "", code)
    if problem is not None:
        exc["password"] = problem
    elif value.get("password") != value.get("password_confirm"):
        exc["password_confirm"] = _("The confirmation differs from the password: type the same password twice.")
    if exc.children:
        raise exc


# --- account creation -----------------------------------------------------------------------------

@colander.deferred
def _deferred_code_validator(node, kw):
    request = kw["request"]

    def validate(node, value):
        if not CODE_MIN <= len(value) <= CODE_MAX or not CODE_RE.match(value):
            raise colander.Invalid(node, _("The access code must have ${min} to ${max} characters: letters "
                                           "without accents, digits, dot, hyphen or underscore, starting with a "
                                           "letter or a digit.", mapping={"min": CODE_MIN, "max": CODE_MAX}))
        if request.app_root["accounts"].get_by_code(value) is not None:
            raise colander.Invalid(node, _("This access code is already taken (upper and lower case count as "
                                           "the same): choose another one."))
    return validate


def secret_answer_validator(node, value):
    from .passwords import normalise_answer
    if len(normalise_answer(value)) < ANSWER_MIN:
        raise colander.Invalid(node, _("The answer must have at least ${min} characters.",
                                       mapping={"min": ANSWER_MIN}))


@colander.deferred
def _deferred_questions_widget(node, kw):
    request = kw["request"]
    values = [("", request.translate(_("Choose a question")))]
    values += [(str(i), request.translate(q)) for i, q in enumerate(SECRET_QUESTIONS)]
    return deform.widget.SelectWidget(values=values)


def _question_validator(node, value):
    if value not in {str(i) for i in range(len(SECRET_QUESTIONS))}:
        raise colander.Invalid(node, _("Choose a question in the list."))


def registration_schema() -> colander.SchemaNode:
    schema = colander.SchemaNode(colander.Mapping(), validator=lambda form, value: check_new_password(
        form, value, value.get("code")))
    schema.add(colander.SchemaNode(
        colander.String(), name="civility", title=_("Civility"),
        widget=deform.widget.SelectWidget(values=[("", "—")] + list(CIVILITIES)),
        validator=colander.OneOf([c for c, _label in CIVILITIES]),
        missing_msg=_("This field is required.")))
    schema.add(_text("family_name", _("Family name"), autocomplete="family-name"))
    schema.add(_text("first_names", _("First names"), autocomplete="given-name"))
    schema.add(colander.SchemaNode(
        DateField(), name="birth_date", title=_("Birth date"), validator=birth_date_validator(adult=True),
        widget=DateWidget(autocomplete="bday"), missing_msg=_("This field is required.")))
    schema.add(_text("address", _("Address"), _("Number and street, and any extra detail (building, floor)."),
                     autocomplete="street-address", max_length=300))
    schema.add(_text("postcode", _("Postcode"), validator=colander.Regex(
        POSTCODE_RE, _("A French postcode has 5 digits, for example 75001.")), autocomplete="postal-code",
        max_length=5, inputmode="numeric"))
    schema.add(_text("city", _("City"), autocomplete="address-level2"))
    schema.add(_text("email", _("E-mail address"), _("Messages from the city are sent to this address."),
                     validator=colander.Email(_("Enter a valid e-mail address, for example "
                                                "prenom.nom@example.fr.")),
                     autocomplete="email", max_length=254, input_type="email"))
    schema.add(_text("phone", _("Phone"), _("Optional. 10 digits, for example 01 23 45 67 89."),
                     validator=phone_validator, missing="", autocomplete="tel", max_length=30, input_type="tel"))
    schema.add(_text("mobile", _("Mobile phone"), _("Optional; needed to receive SMS. For example 06 12 34 56 78."),
                     validator=mobile_validator, missing="", autocomplete="tel", max_length=30, input_type="tel"))
    schema.add(colander.SchemaNode(
        colander.String(), name="code", title=_("Access code"),
        description=_("Your login, to keep safe. ${min} to ${max} characters: letters without accents, digits, "
                      "dot, hyphen or underscore; upper and lower case count as the same.",
                      mapping={"min": CODE_MIN, "max": CODE_MAX}),
        preparer=lambda v: v.strip() if isinstance(v, str) else v,
        validator=_deferred_code_validator,
        widget=deform.widget.TextInputWidget(autocomplete="username"),
        missing_msg=_("This field is required.")))
    for node in new_password_nodes():
        schema.add(node)
    schema.add(colander.SchemaNode(
        colander.String(), name="secret_question", title=_("Secret question"),
        description=_("If you lose your password, this question will be asked to you."),
        widget=_deferred_questions_widget, validator=_question_validator,
        missing_msg=_("Choose a question in the list.")))
    schema.add(_text("secret_answer", _("Answer"),
                     _("Upper and lower case, accents and spaces do not matter."),
                     validator=secret_answer_validator, autocomplete="off"))
    schema.add(captcha_node())
    return schema


# --- passwords ------------------------------------------------------------------------------------

def reset_password_schema() -> colander.SchemaNode:
    schema = colander.SchemaNode(colander.Mapping(), validator=check_new_password)
    for node in new_password_nodes(_("New password"), _("New password confirmation")):
        schema.add(node)
    return schema


def change_password_schema() -> colander.SchemaNode:
    schema = colander.SchemaNode(colander.Mapping(), validator=check_new_password)
    schema.add(_password("current_password", _("Current password"), autocomplete="current-password"))
    for node in new_password_nodes(_("New password"), _("New password confirmation")):
        schema.add(node)
    return schema
