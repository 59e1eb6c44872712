"""The command-line tool: init, evolve (named steps recorded in the database), create-staff."""
import io
import textwrap

import pytest

from compte_citoyen import cli
from compte_citoyen.testing import base_settings


@pytest.fixture
def ini(tmp_path):
    settings = base_settings(tmp_path)
    lines = "\n".join(f"{key} = {value}".replace("\n", "\n    ") for key, value in settings.items())
    path = tmp_path / "test.ini"
    path.write_text(textwrap.dedent("""\
        [app:main]
        use = egg:compte_citoyen
        """) + lines + "\n")
    return str(path)


def run(ini, *args, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return cli.main([ini, *args])


def test_init_and_evolve(ini, capsys):
    assert run(ini, "init") == 0
    assert "database" in capsys.readouterr().out
    assert run(ini, "evolve", "--dry-run") == 0
    assert "nothing to evolve" in capsys.readouterr().out


def test_evolve_applies_a_new_step_once(ini, capsys, monkeypatch):
    assert run(ini, "init") == 0
    calls = []

    def step(portal, registry):
        """Add a marker."""
        calls.append(1)
        portal.counters  # touch

    original = cli.load_env

    def load_env_with_step(path):
        env = original(path)
        from compte_citoyen.evolution import EvolveStep, get_steps
        get_steps(env.registry).append(EvolveStep("test:0001-marker", step))
        return env

    monkeypatch.setattr(cli, "load_env", load_env_with_step)
    capsys.readouterr()
    assert run(ini, "evolve", "--dry-run") == 0
    assert "would apply: test:0001-marker" in capsys.readouterr().out
    assert calls == []
    assert run(ini, "evolve") == 0
    assert "applied: test:0001-marker" in capsys.readouterr().out
    assert run(ini, "evolve") == 0
    assert "nothing to evolve" in capsys.readouterr().out
    assert calls == [1]


def test_create_staff_prints_totp_uri_once(ini, capsys, monkeypatch):
    assert run(ini, "create-staff", "agent1", "--role", "agent", "--service", "voirie",
               stdin="a long staff password\n", monkeypatch=monkeypatch) == 0
    out = capsys.readouterr().out
    assert "otpauth://totp/" in out and "agent1" in out
    # the same login again is refused with a message
    assert run(ini, "create-staff", "agent1", "--role", "agent",
               stdin="a long staff password\n", monkeypatch=monkeypatch) == 2
    assert "already exists" in capsys.readouterr().err


def test_create_staff_refuses_short_password(ini, capsys, monkeypatch):
    assert run(ini, "create-staff", "x", "--role", "admin", stdin="short\n", monkeypatch=monkeypatch) == 2
    assert "at least 12" in capsys.readouterr().err


def test_staff_code_prints_the_current_totp_code_in_development(ini, capsys, monkeypatch):
    import pyotp
    assert run(ini, "create-staff", "agent2", "--role", "validator",
               stdin="a long staff password\n", monkeypatch=monkeypatch) == 0
    secret = capsys.readouterr().out.split("secret=")[1].split("&")[0]
    assert run(ini, "staff-code", "agent2") == 0
    assert capsys.readouterr().out.strip() == pyotp.TOTP(secret).now()
    assert run(ini, "staff-code", "nobody") == 2


def test_staff_code_works_while_the_server_holds_the_database(ini, capsys, monkeypatch, tmp_path):
    """`make run` keeps the FileStorage locked: staff-code opens it read-only beside the server."""
    import pyotp

    from compte_citoyen import main
    from compte_citoyen.testing import base_settings, create_staff, open_portal
    assert run(ini, "init") == 0
    app = main({}, **base_settings(tmp_path))  # the running server: same Data.fs, locked
    try:
        with open_portal(app.registry) as portal:
            secret = create_staff(portal, "agent3", roles=("agent",)).totp_secret
        capsys.readouterr()
        assert run(ini, "staff-code", "agent3") == 0
        assert capsys.readouterr().out.strip() == pyotp.TOTP(secret).now()
    finally:
        from compte_citoyen.database import get_database
        get_database(app.registry).close()
