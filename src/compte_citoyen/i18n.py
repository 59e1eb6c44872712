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


def _cache_template_translations(registry) -> None:
    """Wrap the templates' translate function (pyramid_chameleon's) in a cache of the texts without variables.

    Chameleon translates every ``i18n:translate`` text at each rendering, through the localizer and gettext: about
    sixty times for a page like "Accueil", a quarter of its cost. A text without variables translates the same
    way every time for a language, so its translation is kept (per language, domain, message id and context).
    What Chameleon asks to keep as is (the translation returned its ``default`` marker) is never cached.
    """
    from pyramid.threadlocal import get_current_request
    from pyramid_chameleon.interfaces import IChameleonTranslate
    translate = registry.queryUtility(IChameleonTranslate)
    if translate is None or getattr(translate, "cached", False):
        return
    cache: dict = {}

    def cached_translate(msgid, domain=None, mapping=None, context=None, target_language=None, default=None):
        if mapping or not isinstance(msgid, str) or len(cache) > 20000:
            return translate(msgid, domain=domain, mapping=mapping, context=context,
                             target_language=target_language, default=default)
        request = get_current_request()
        key = (target_language or getattr(request, "locale_name", None), domain, msgid, context,
               None if default is None else str(default))
        found = cache.get(key)
        if found is not None:
            return found
        result = translate(msgid, domain=domain, mapping=mapping, context=context,
                           target_language=target_language, default=default)
        if result is not default and type(result) is str:
            cache[key] = result
        return result

    cached_translate.cached = True
    registry.registerUtility(cached_translate, IChameleonTranslate)


def includeme(config):
    # after pyramid_chameleon registers its translate function (order 1000)
    config.action(None, callable=_cache_template_translations, args=(config.registry,), order=1001)
    settings = config.get_settings()
    settings.setdefault("pyramid.default_locale_name", DEFAULT_LOCALE)
    config.add_settings({"pyramid.default_locale_name": settings["pyramid.default_locale_name"]})
    config.add_translation_dirs("colander:locale/", "deform:locale/", "compte_citoyen:locale/")
    config.add_request_method(lambda request, message, mapping=None: translate(request, message, mapping),
                              "translate")
