"""compte_citoyen_regie_ccas: the CCAS régie (social services) for Compte Citoyen."""
from setuptools import setup

setup(
    name="compte_citoyen_regie_ccas",
    version="0.1.0",
    description="Compte Citoyen plugin: the CCAS régie (invoices of the social services)",
    license="AGPL-3.0-or-later",
    packages=["compte_citoyen_regie_ccas"],
    include_package_data=True,
    package_data={"compte_citoyen_regie_ccas": ["locale/*/LC_MESSAGES/*.po", "locale/*/LC_MESSAGES/*.mo",
                                                 "locale/*.pot"]},
    zip_safe=False,
    python_requires=">=3.11",
    install_requires=["compte_citoyen"],
    entry_points={"compte_citoyen": ["regie_ccas = compte_citoyen_regie_ccas"]},
)
