"""Hand the Configurator to active plugins, once the core is configured.

Plugins are configured in the order of ``compte_citoyen.plugins`` (pluggy would call the last registered first),
so their evolve steps run in that order too.
"""


def includeme(config):
    pm = config.registry.compte_citoyen_plugins
    for impl in pm.hook.compte_citoyen_configure.get_hookimpls():
        impl.function(config=config)
