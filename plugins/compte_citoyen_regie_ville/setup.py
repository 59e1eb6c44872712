"""compte_citoyen_regie_ville: the Ville régie (scolaire, périscolaire, petite enfance) for Compte Citoyen."""
from setuptools import setup

setup(
    name="compte_citoyen_regie_ville",
    version="0.1.0",
    description="Compte Citoyen plugin: the city's régie (school, after-school and early-childhood invoices)",
    license="AGPL-3.0-or-later",
    packages=["compte_citoyen_regie_ville"],
    include_package_data=True,
    package_data={"compte_citoyen_regie_ville": ["locale/*/LC_MESSAGES/*.po", "locale/*/LC_MESSAGES/*.mo",
                                                 "locale/*.pot"]},
    zip_safe=False,
    python_requires=">=3.11",
    install_requires=["compte_citoyen"],
    entry_points={"compte_citoyen": ["regie_ville = compte_citoyen_regie_ville"]},
)
