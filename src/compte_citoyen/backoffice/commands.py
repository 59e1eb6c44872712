"""Staff commands: create-staff."""
from __future__ import annotations

import getpass
import sys

import pyotp

from ..authentication.passwords import hash_password
from ..cli import CommandError, command
from ..security import ROLES

MIN_STAFF_PASSWORD = 12


def _args(parser):
    parser.add_argument("login", help="the staff member's login")
    parser.add_argument("--role", action="append", required=True, choices=sorted(ROLES),
                        help="a role (repeat for several)")
    parser.add_argument("--service", action="append", default=[], help="a service code handled (agents)")
    parser.add_argument("--regie", action="append", default=[], help="a régie code managed (régie managers)")
    parser.add_argument("--name", default="", help="full name shown in the back office")
    parser.add_argument("--email", default="", help="e-mail address")


def read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Mot de passe : ")
    second = getpass.getpass("Confirmation : ")
    if first != second:
        raise CommandError("the two passwords differ")
    return first


def create_staff_member(portal, login: str, password: str, roles: list[str], services=(), regies=(),
                        name: str = "", email: str = ""):
    from .models import StaffMember
    if len(password) < MIN_STAFF_PASSWORD:
        raise CommandError(f"the password must have at least {MIN_STAFF_PASSWORD} characters")
    if login in portal["staff"]:
        raise CommandError(f"a staff member {login!r} already exists")
    secret = pyotp.random_base32()
    member = StaffMember(login, hash_password(password), list(roles), secret, list(services), list(regies))
    member.full_name = name
    member.email = email
    portal["staff"].add(login, member)
    return member


@command("create-staff", "create a staff account (password read from stdin or prompted); prints the TOTP URI once",
         _args)
def create_staff(env, args):
    password = read_password()
    with env.transaction() as (tm, portal):
        member = create_staff_member(portal, args.login, password, args.role, args.service, args.regie,
                                     args.name, args.email)
        portal["journal"].record("cli", "staff-created", f"staff:{args.login}", ",".join(args.role))
        uri = pyotp.TOTP(member.totp_secret).provisioning_uri(
            name=args.login, issuer_name=env.settings.get("compte_citoyen.city_name", "Compte Citoyen"))
    print(f"staff member {args.login} created with roles {', '.join(args.role)}")
    print("Add this to the staff member's authenticator app (shown once):")
    print(uri)
    return 0


def _code_args(parser):
    parser.add_argument("login", help="the staff member's login")


@command("staff-code", "development only: print a staff member's current TOTP code (no authenticator app needed)",
         _code_args)
def staff_code(env, args):
    """Lets a newcomer try the back office of a development database; refused in production.

    It runs beside `make run`: a FileStorage is opened read-only, which needs no lock.
    """
    import zodburi
    from pyramid.paster import get_appsettings
    from pyramid.settings import asbool
    from ZODB import DB

    from ..database import ROOT_KEY
    settings = get_appsettings(args.ini)
    if asbool(settings.get("compte_citoyen.production", False)):
        raise CommandError("staff-code is refused in production: use the authenticator app")
    uri = settings.get("zodbconn.uri", "")
    if uri.startswith("file://"):
        uri += ("&" if "?" in uri else "?") + "read_only=true"
    factory, dbkw = zodburi.resolve_uri(uri)
    db = DB(factory(), **dbkw)
    try:
        with db.transaction() as conn:
            member = conn.root()[ROOT_KEY]["staff"].get(args.login)
            if member is None:
                raise CommandError(f"no staff member {args.login!r}")
            secret = member.totp_secret
    finally:
        db.close()
    print(pyotp.TOTP(secret).now())
    return 0
