"""compte_citoyen_theme_etat_civil: the civil-status theme (birth, marriage and death certificates, without an account) for Compte Citoyen."""
from setuptools import setup

setup(
    name="compte_citoyen_theme_etat_civil",
    version="0.1.0",
    description="Compte Citoyen plugin: the civil-status theme (birth, marriage and death certificates, without an account)",
    license="AGPL-3.0-or-later",
    packages=["compte_citoyen_theme_etat_civil"],
    include_package_data=True,
    package_data={"compte_citoyen_theme_etat_civil": ["locale/*/LC_MESSAGES/*.po", "locale/*/LC_MESSAGES/*.mo",
                                                    "locale/*.pot"]},
    zip_safe=False,
    python_requires=">=3.11",
    install_requires=["compte_citoyen"],
    entry_points={"compte_citoyen": ["etat_civil = compte_citoyen_theme_etat_civil"]},
)
