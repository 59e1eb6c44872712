"""``forms.bind_fresh`` binds a schema built for one request in place, with the same result as colander's
``bind`` (which clones the schema first and looks for deferred values through ``dir``)."""
import colander
import deform

from compte_citoyen.forms import bind_fresh


@colander.deferred
def deferred_title(node, kw):
    return f"Titre pour {kw['who']}"


@colander.deferred
def deferred_default(node, kw):
    return kw["who"].upper()


@colander.deferred
def deferred_choices(node, kw):
    return deform.widget.SelectWidget(values=[(v, v) for v in kw["choices"]])


@colander.deferred
def deferred_validator(node, kw):
    return colander.OneOf(kw["choices"])


class Address(colander.MappingSchema):
    city = colander.SchemaNode(colander.String(), default=deferred_default)
    # a deferred defined on the class, giving a node: added as a child named after the attribute
    postcode = colander.deferred(lambda node, kw: colander.SchemaNode(colander.String(), missing=kw["who"]))


class WithClassDeferred(colander.SchemaNode):
    schema_type = colander.String
    description = deferred_title


def build():
    calls = []
    schema = colander.SchemaNode(colander.Mapping(), name="page", title=deferred_title,
                                 after_bind=lambda node, kw: calls.append(sorted(kw)))
    schema.add(colander.SchemaNode(colander.String(), name="name", default=deferred_default))
    schema.add(colander.SchemaNode(colander.String(), name="choice", widget=deferred_choices,
                                   validator=deferred_validator))
    schema.add(Address(name="address"))
    schema.add(WithClassDeferred(name="other"))
    return schema, calls


def described(node):
    return (node.name, node.title, node.default, type(node.widget).__name__, getattr(node.widget, "values", None),
            getattr(node.validator, "choices", None), node.description, node.missing,
            [described(child) for child in node.children])


def test_same_result_as_colander_bind():
    kw = {"who": "zoé", "choices": ["a", "b"]}
    built, calls = build()
    expected = described(built.bind(**kw))
    fresh, fresh_calls = build()
    bound = bind_fresh(fresh, **kw)
    assert bound is fresh  # in place, no clone
    assert described(bound) == expected
    assert bound["address"]["postcode"].missing == "zoé"
    assert bound["other"].description == "Titre pour zoé"
    assert calls == fresh_calls == [["choices", "who"]]
    assert bound.bindings == kw and bound["address"]["city"].bindings == kw


def test_a_bound_form_validates_as_before():
    kw = {"who": "zoé", "choices": ["a", "b"]}
    schema, _calls = build()
    form = deform.Form(bind_fresh(schema, **kw))
    appstruct = form.validate_pstruct({"name": "x", "choice": "a", "address": {"city": "Tours", "postcode": "37000"},
                                       "other": "y"})
    assert appstruct["choice"] == "a" and appstruct["address"] == {"city": "Tours", "postcode": "37000"}
    schema, _calls = build()
    form = deform.Form(bind_fresh(schema, **kw))
    try:
        form.validate_pstruct({"name": "x", "choice": "z", "address": {"city": "Tours"}, "other": "y"})
    except deform.ValidationFailure as failure:
        assert failure.error.asdict() == {"page.choice": "\"z\" is not one of a, b"}
    else:
        raise AssertionError("an unknown choice must fail")
