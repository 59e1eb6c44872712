"""compte_citoyen_sms_gateway: SMS channels for Compte Citoyen (a generic HTTP gateway, a development folder)."""
from setuptools import setup

setup(
    name="compte_citoyen_sms_gateway",
    version="0.1.0",
    description="Compte Citoyen plugin: send SMS through a generic HTTP gateway, or to a folder in development",
    license="AGPL-3.0-or-later",
    packages=["compte_citoyen_sms_gateway"],
    include_package_data=True,
    zip_safe=False,
    python_requires=">=3.11",
    install_requires=["compte_citoyen"],
    entry_points={"compte_citoyen": ["sms_gateway = compte_citoyen_sms_gateway"]},
)
