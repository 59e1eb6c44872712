"""compte_citoyen_theme_scolaire: the scolaire/périscolaire theme (school enrolment, canteen and after-school care) for Compte Citoyen."""
from setuptools import setup

setup(
    name="compte_citoyen_theme_scolaire",
    version="0.1.0",
    description="Compte Citoyen plugin: the scolaire/périscolaire theme (school enrolment, canteen and after-school care)",
    license="AGPL-3.0-or-later",
    packages=["compte_citoyen_theme_scolaire"],
    include_package_data=True,
    package_data={"compte_citoyen_theme_scolaire": ["locale/*/LC_MESSAGES/*.po", "locale/*/LC_MESSAGES/*.mo",
                                                    "locale/*.pot"]},
    zip_safe=False,
    python_requires=">=3.11",
    install_requires=["compte_citoyen"],
    entry_points={"compte_citoyen": ["scolaire = compte_citoyen_theme_scolaire"]},
)
