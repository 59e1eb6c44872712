"""Forms: deform rendered with our accessible templates and translated per request; a FormView base.

``FormView`` binds the schema to the request, adds the CSRF token node, and dispatches on the pressed button:
a button named ``save`` calls ``save_success(appstruct)`` when the data validate, or re-renders the form with
the errors tied to their fields and what was typed kept.
"""
from __future__ import annotations

import colander
import deform
from pkg_resources import resource_filename
from pyramid.i18n import get_localizer
from pyramid.threadlocal import get_current_request



def translator(term):
    request = get_current_request()
    if request is None:
        return term
    return get_localizer(request).translate(term)


def configure_deform() -> None:
    search_path = (
        resource_filename("compte_citoyen", "templates/deform"),
        resource_filename("deform", "templates"),
    )
    deform.Form.set_zpt_renderer(search_path, translator=translator)


@colander.deferred
def deferred_csrf_default(node, kw):
    return kw["request"].session.get_csrf_token()


def csrf_node() -> colander.SchemaNode:
    return colander.SchemaNode(colander.String(), name="csrf_token", default=deferred_csrf_default,
                               widget=deform.widget.HiddenWidget(), missing=colander.drop)


class FormView:
    """Render a deform form and dispatch on the pressed button (Substance D's pattern)."""

    schema_factory = None
    buttons: tuple = ()
    form_options: dict = {}
    formid = "form"

    def __init__(self, context, request):
        self.context = context
        self.request = request

    def make_schema(self) -> colander.SchemaNode:
        schema = self.schema_factory()
        schema.add(csrf_node())
        return schema.bind(request=self.request, context=self.context)

    def make_form(self, schema) -> deform.Form:
        buttons = [b if isinstance(b, deform.Button) else deform.Button(b) for b in self.buttons]
        return deform.Form(schema, buttons=buttons, formid=self.formid, **self.form_options)

    def appstruct(self) -> dict | None:
        """Initial values for the form (e.g. pre-filled from the account)."""
        return None

    def before(self, form) -> None:
        pass

    def show(self, form, appstruct=None) -> dict:
        rendered = form.render(appstruct if appstruct is not None else (self.appstruct() or {}))
        return {"form": rendered}

    def failure(self, exc: deform.ValidationFailure) -> dict:
        return {"form": exc.render(), "form_error": True}

    def __call__(self):
        schema = self.make_schema()
        form = self.make_form(schema)
        self.before(form)
        if self.request.method == "POST":
            for button in form.buttons:
                if button.name in self.request.POST:
                    handler = getattr(self, f"{button.name}_success")
                    if getattr(button, "validate", True) is False:
                        return handler(None)
                    try:
                        controls = self.request.POST.items()
                        appstruct = form.validate(controls)
                    except deform.ValidationFailure as exc:
                        result = self.failure(exc)
                        return result
                    return handler(appstruct)
        return self.show(form)


def includeme(config):
    configure_deform()
