"""Mon Compte Citoyen: the Pyramid application factory.

The factory only includes; each domain package wires itself in its ``includeme``.
"""
from pyramid.config import Configurator


def main(global_config, **settings):
    """Return the WSGI application configured from an ini file's settings."""
    with Configurator(settings=settings) as config:
        config.include(".settings")
        config.include(".i18n")
        config.include(".routes")
        config.include(".database")
        config.include(".security")
        config.include(".forms")
        config.include(".plugins")
        config.include(".evolution")
        config.include(".layout")
        config.include(".notification")
        config.include(".authentication")
        config.include(".household")
        config.include(".procedures")
        config.include(".billing")
        config.include(".backoffice")
        config.include(".plugins.activate")
        config.scan(ignore=[".testing", ".cli", ".commands"])
        config.include(".database.bootstrap")
    return config.make_wsgi_app()
