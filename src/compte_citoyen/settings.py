"""Settings: defaults, coercion, and the refusals that keep production safe."""
from __future__ import annotations

import os

from pyramid.exceptions import ConfigurationError
from pyramid.settings import asbool, aslist

#: Values that must never reach production.
INSECURE_SECRETS = {"", "changeme", "development-secret", "dev", "secret"}


def _env_or_setting(settings: dict, key: str) -> str:
    """A setting written ``env:NAME`` is read from the environment variable NAME."""
    value = settings.get(key, "") or ""
    if isinstance(value, str) and value.startswith("env:"):
        value = os.environ.get(value[4:], "")
    return value


def includeme(config):
    settings = config.get_settings()
    settings["compte_citoyen.testing"] = asbool(settings.get("compte_citoyen.testing", False))
    settings["compte_citoyen.production"] = asbool(settings.get("compte_citoyen.production", False))
    settings["compte_citoyen.secret"] = _env_or_setting(settings, "compte_citoyen.secret")
    settings["compte_citoyen.plugins"] = aslist(settings.get("compte_citoyen.plugins", ""))
    settings.setdefault("compte_citoyen.city_name", "Ville de Clairval")
    settings.setdefault("compte_citoyen.public_url", "http://127.0.0.1:6543")
    settings.setdefault("compte_citoyen.captcha", "image")
    settings["compte_citoyen.session.idle_timeout"] = int(
        settings.get("compte_citoyen.session.idle_timeout", 1800))
    settings["compte_citoyen.session.absolute_timeout"] = int(
        settings.get("compte_citoyen.session.absolute_timeout", 8 * 3600))
    settings["compte_citoyen.secure_cookies"] = asbool(
        settings.get("compte_citoyen.secure_cookies", settings["compte_citoyen.production"]))
    for key in list(settings):
        if key.startswith("mail.") and isinstance(settings[key], str) and settings[key].startswith("env:"):
            settings[key] = _env_or_setting(settings, key)
    check_settings(settings)


def check_settings(settings: dict) -> None:
    """Refuse to start with settings that are unsafe for the declared environment."""
    secret = settings.get("compte_citoyen.secret", "")
    production = settings.get("compte_citoyen.production")
    testing = settings.get("compte_citoyen.testing")
    if production:
        if secret in INSECURE_SECRETS or len(secret) < 32:
            raise ConfigurationError(
                "compte_citoyen.secret is missing or is a default value: set a random secret of 32 "
                "characters or more in the environment (COMPTE_CITOYEN_SECRET) before starting in production")
        if testing:
            raise ConfigurationError("compte_citoyen.testing must not be set in production")
        if not settings.get("compte_citoyen.secure_cookies"):
            raise ConfigurationError("production requires compte_citoyen.secure_cookies = true")
    elif not secret:
        raise ConfigurationError("compte_citoyen.secret is required")
    if settings.get("compte_citoyen.captcha") == "fixed" and not testing:
        raise ConfigurationError(
            "compte_citoyen.captcha = fixed is only allowed with compte_citoyen.testing = true")
