"""A test-only plugin for the fault-tolerance tests: write and read views over a plugin-owned folder.

Installed by the Makefile (tests/plugins/*/setup.py) but active only when an ini lists ``fault_test`` in
``compte_citoyen.plugins`` - never in development.ini or production.ini.
"""
from setuptools import setup

setup(
    name="compte_citoyen_fault_plugin",
    version="0.1.0",
    description="Test plugin for Compte Citoyen fault-tolerance tests (never activate in production)",
    packages=["compte_citoyen_fault_plugin"],
    install_requires=["compte_citoyen"],
    entry_points={"compte_citoyen": ["fault_test = compte_citoyen_fault_plugin"]},
)
