"""The test plugin of Compte Citoyen: implements every hook, installed through a real entry point.

Installed by ``make install`` (the Makefile installs every ``tests/plugins/*/``) and never activated unless a test
adds ``test_plugin`` to ``compte_citoyen.plugins``.
"""
from setuptools import setup

setup(
    name="compte_citoyen_test_plugin",
    version="0.1.0",
    description="Compte Citoyen test plugin: one small real implementation of every hook",
    license="AGPL-3.0-or-later",
    packages=["compte_citoyen_test_plugin"],
    package_data={"compte_citoyen_test_plugin": ["templates/*.pt"]},
    include_package_data=True,
    zip_safe=False,
    python_requires=">=3.11",
    install_requires=["compte_citoyen"],
    entry_points={"compte_citoyen": ["test_plugin = compte_citoyen_test_plugin"]},
)
