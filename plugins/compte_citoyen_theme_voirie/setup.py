"""compte_citoyen_theme_voirie: the voirie/environnement theme (bulky-item pick-up with its reminder) for Compte Citoyen."""
from setuptools import setup

setup(
    name="compte_citoyen_theme_voirie",
    version="0.1.0",
    description="Compte Citoyen plugin: the voirie/environnement theme (bulky-item pick-up with its reminder)",
    license="AGPL-3.0-or-later",
    packages=["compte_citoyen_theme_voirie"],
    include_package_data=True,
    package_data={"compte_citoyen_theme_voirie": ["locale/*/LC_MESSAGES/*.po", "locale/*/LC_MESSAGES/*.mo",
                                                    "locale/*.pot"]},
    zip_safe=False,
    python_requires=">=3.11",
    install_requires=["compte_citoyen"],
    entry_points={"compte_citoyen": ["voirie = compte_citoyen_theme_voirie"]},
)
