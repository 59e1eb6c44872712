"""The SMS gateway plugin: number format, the development folder, the generic HTTP gateway, its errors."""
from __future__ import annotations

import os
import types

import pytest

from compte_citoyen.notification.channels import DeliveryError
from compte_citoyen.testing import SMSGatewayServer, free_port
from compte_citoyen_sms_gateway import (
    FolderSmsChannel, HttpSmsChannel, MisconfiguredSmsChannel, channel_from_settings, international_number,
    make_channel,
)


def message(**kw):
    base = dict(id="abc123", phone="06 12 34 56 78", text="Long texte", sms_text="Clairval : Rappel. Ne pas répondre.",
                subject="Rappel", email=None)
    base.update(kw)
    return types.SimpleNamespace(**base)


@pytest.fixture
def gateway():
    server = SMSGatewayServer().start()
    yield server
    server.stop()


@pytest.mark.parametrize("raw, expected", [
    ("0612345678", "+33612345678"), ("06 12 34 56 78", "+33612345678"), ("06.12.34.56.78", "+33612345678"),
    ("+33 6 12 34 56 78", "+33612345678"), ("0033612345678", "+33612345678"), ("+32470123456", "+32470123456"),
])
def test_international_number(raw, expected):
    assert international_number(raw) == expected


@pytest.mark.parametrize("raw", ["", "12", "06-12-34", "abcdefghij", "+33 6 12 34 56 78 99 99 99 99"])
def test_invalid_number_is_a_permanent_failure(raw):
    with pytest.raises(DeliveryError) as info:
        international_number(raw)
    assert info.value.permanent


def test_folder_channel_writes_one_file_per_message(tmp_path):
    channel = FolderSmsChannel(str(tmp_path / "sms"), "CLAIRVAL")
    channel.send(message(), None)
    channel.send(message(), None)  # the same message again rewrites the same file
    [name] = os.listdir(tmp_path / "sms")
    content = (tmp_path / "sms" / name).read_text(encoding="utf-8")
    assert name == "sms-abc123.txt"
    assert "To: +33612345678" in content and "From: CLAIRVAL" in content
    assert content.rstrip().endswith("Clairval : Rappel. Ne pas répondre.")


def test_folder_channel_without_number(tmp_path):
    with pytest.raises(DeliveryError) as info:
        FolderSmsChannel(str(tmp_path)).send(message(phone=""), None)
    assert info.value.permanent


def test_http_channel_posts_json_with_basic_auth(gateway):
    channel = HttpSmsChannel(gateway.url, "CLAIRVAL", "user", "secret")
    channel.send(message(), None)
    [request] = gateway.requests
    assert request["path"] == "/sms"
    assert request["json"] == {"from": "CLAIRVAL", "to": "+33612345678",
                               "text": "Clairval : Rappel. Ne pas répondre.", "reference": "abc123"}
    assert request["headers"]["Authorization"] == "Basic dXNlcjpzZWNyZXQ="
    assert request["headers"]["Idempotency-Key"] == "abc123"


def test_http_channel_form_and_bearer_token(gateway):
    HttpSmsChannel(gateway.url, "CLAIRVAL", token="tok", body_format="form").send(message(sms_text=None), None)
    [request] = gateway.requests
    assert request["form"]["to"] == "+33612345678" and request["form"]["text"] == "Long texte"
    assert request["headers"]["Authorization"] == "Bearer tok"


@pytest.mark.parametrize("status, permanent", [(400, True), (401, True), (404, True), (408, False),
                                               (429, False), (500, False), (503, False)])
def test_http_errors_are_classified(gateway, status, permanent):
    gateway.status = status
    with pytest.raises(DeliveryError) as info:
        HttpSmsChannel(gateway.url).send(message(), None)
    assert info.value.permanent is permanent and f"HTTP {status}" in str(info.value)


def test_unreachable_gateway_is_temporary():
    with pytest.raises(DeliveryError) as info:
        HttpSmsChannel(f"http://127.0.0.1:{free_port()}/sms", timeout=2).send(message(), None)
    assert not info.value.permanent and "unreachable" in str(info.value)


def test_backend_chosen_by_setting(tmp_path, monkeypatch):
    folder = make_channel({"compte_citoyen_sms_gateway.folder": str(tmp_path)})
    assert isinstance(folder, FolderSmsChannel) and folder.folder == str(tmp_path) and folder.name == "sms"
    assert make_channel({"compte_citoyen.sms_folder": "/x"}).folder == "/x"
    monkeypatch.setenv("SMS_PASSWORD", "from-env")
    http = make_channel({"compte_citoyen_sms_gateway.backend": "http",
                         "compte_citoyen_sms_gateway.url": "https://sms.example/send",
                         "compte_citoyen_sms_gateway.username": "u",
                         "compte_citoyen_sms_gateway.password": "env:SMS_PASSWORD",
                         "compte_citoyen_sms_gateway.timeout": "4"})
    assert isinstance(http, HttpSmsChannel) and http.password == "from-env" and http.timeout == 4.0


def test_incomplete_settings_make_every_sms_fail_for_good():
    from pyramid.exceptions import ConfigurationError
    with pytest.raises(ConfigurationError):
        make_channel({"compte_citoyen_sms_gateway.backend": "http"})
    with pytest.raises(ConfigurationError):
        make_channel({"compte_citoyen_sms_gateway.backend": "pigeon"})
    channel = channel_from_settings({"compte_citoyen_sms_gateway.backend": "http"})
    assert isinstance(channel, MisconfiguredSmsChannel)
    with pytest.raises(DeliveryError) as info:
        channel.send(message(), None)
    assert info.value.permanent and "not configured" in str(info.value)


def test_plugin_declares_the_sms_channel_in_the_app(settings, tmp_path):
    from compte_citoyen.testing import activate_plugin
    activate_plugin(settings, "sms_gateway")
    settings["compte_citoyen_sms_gateway.folder"] = str(tmp_path / "out")
    from compte_citoyen import main
    from compte_citoyen.database import get_database
    from compte_citoyen.notification.worker import channel_for
    app = main({}, **settings)
    try:
        channel = channel_for(app.registry, "sms")
        assert isinstance(channel, FolderSmsChannel) and channel.folder == str(tmp_path / "out")
        assert "sms_gateway" in dict(app.registry.compte_citoyen_plugins.list_name_plugin())
    finally:
        get_database(app.registry).close()
