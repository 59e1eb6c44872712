"""Compte Citoyen: the citizen portal core distribution."""
from setuptools import find_packages, setup

requires = [
    "setuptools<81",  # deform 3.0.1 imports pkg_resources at run time
    "pyramid>=2.0,<3",
    "pyramid_chameleon",
    "pyramid_tm>=2.5",
    "pyramid_retry>=2.1",
    "pyramid_zodbconn>=0.8",
    "pyramid_mailer>=0.15",
    "repoze.sendmail",
    "zodburi>=2.6",
    "ZODB>=6",
    "ZEO>=6",
    "RelStorage[postgresql]>=4",
    "transaction>=5",
    "BTrees",
    "hypatia>=0.5",
    "deform==3.0.1",
    "colander>=2",
    "pluggy>=1.5",
    "argon2-cffi>=23",
    "captcha>=0.5",
    "Pillow",
    "reportlab>=4",
    "eopayment>=1.70",
    "holidays>=0.50",
    "pyotp>=2.9",
    "waitress",
    "gunicorn",
    "Babel",
    "plaster_pastedeploy",
]

tests_require = [
    "pytest>=8",
    "WebTest>=3",
    "aiosmtpd>=1.4",
    "playwright>=1.45",
    "axe-playwright-python>=0.1.4",
    "lingua",
]

setup(
    name="compte_citoyen",
    version="0.1.0",
    description="Mon Compte Citoyen: the citizen portal of a French municipality",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="AGPL-3.0-or-later",
    package_dir={"": "src"},
    packages=find_packages("src"),
    include_package_data=True,
    zip_safe=False,
    python_requires=">=3.11",
    install_requires=requires,
    extras_require={"test": tests_require},
    entry_points={
        "paste.app_factory": ["main = compte_citoyen:main"],
        "console_scripts": ["compte-citoyen = compte_citoyen.cli:main"],
        "pytest11": ["compte_citoyen = compte_citoyen.testing"],
    },
)
