"""Hand the Configurator to active plugins, once the core is configured."""


def includeme(config):
    pm = config.registry.compte_citoyen_plugins
    pm.hook.compte_citoyen_configure(config=config)
