"""Internationalisation: gettext catalogues, French by default.

Message ids are English; every package that shows text ships ``locale/fr/LC_MESSAGES/compte_citoyen.po``
in the ``compte_citoyen`` domain (catalogues of one domain found in several folders are merged by Pyramid).
"""
from pyramid.i18n import TranslationStringFactory, get_localizer

_ = TranslationStringFactory("compte_citoyen")

DEFAULT_LOCALE = "fr"


def translate(request, message, mapping=None):
    """Translate a message (a TranslationString or plain text) for this request."""
    return get_localizer(request).translate(message, mapping=mapping)


def includeme(config):
    settings = config.get_settings()
    settings.setdefault("pyramid.default_locale_name", DEFAULT_LOCALE)
    config.add_settings({"pyramid.default_locale_name": settings["pyramid.default_locale_name"]})
    config.add_translation_dirs("colander:locale/", "deform:locale/", "compte_citoyen:locale/")
    config.add_request_method(lambda request, message, mapping=None: translate(request, message, mapping),
                              "translate")
