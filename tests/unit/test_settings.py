"""Settings from the environment: defaults, derived values, and clear refusals."""

from __future__ import annotations

import base64
import ipaddress
from pathlib import Path

import pytest

from backend.settings import SettingsError, load_settings

PROD_SECRETS = {
    "SECRET_KEY": "x" * 40,
    "DATA_KEYS": "k1:" + base64.b64encode(b"k" * 32).decode(),
    "SMS_BACKEND": "file:/tmp/sms.jsonl",
}


def settings_for(tmp_path: Path, **environ: str):  # type: ignore[no-untyped-def]
    return load_settings({"VAR_DIR": str(tmp_path), **environ})


def test_defaults_follow_the_contract(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    assert settings.app_env == "dev"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.base_url == "http://127.0.0.1:8000"
    assert settings.database_url is None
    assert settings.sms.kind == "console"
    assert settings.oidc_cccd_claim == "cccd"
    assert settings.forwarded_allow_ips == ()
    assert settings.workers == 1 and settings.sms_daily_budget == 10_000 and settings.demo_data
    assert settings.secure_origin and settings.cookie_prefix == "__Host-"
    assert settings.warnings == ()


def test_dev_secrets_are_generated_once_and_kept(tmp_path: Path) -> None:
    first, second = settings_for(tmp_path), settings_for(tmp_path)
    assert len(first.secret_key) >= 32
    assert first.secret_key == second.secret_key
    assert first.data_keys == second.data_keys and len(first.data_keys[0].key) == 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0  # readable by the owner only


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("0.0.0.0", "http://127.0.0.1:9000"),
        ("::", "http://127.0.0.1:9000"),
        ("10.0.0.5", "http://10.0.0.5:9000"),
    ],
)
def test_base_url_is_derived_from_host_and_port(tmp_path: Path, host: str, expected: str) -> None:
    assert settings_for(tmp_path, HOST=host, PORT="9000").base_url == expected


def test_plain_http_on_a_lan_address_warns_and_drops_the_host_prefix(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, HOST="10.0.0.5")
    assert not settings.secure_origin and settings.cookie_prefix == ""
    assert any("neither https nor loopback" in warning for warning in settings.warnings)


def test_an_https_base_url_is_a_secure_origin(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, BASE_URL="https://sosuckhoe.example.vn/")
    assert settings.base_url == "https://sosuckhoe.example.vn"
    assert settings.secure_origin and settings.warnings == ()


@pytest.mark.parametrize("value", ["ftp://x", "https://x.vn/path", "not a url"])
def test_a_base_url_that_is_not_an_origin_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsError, match="BASE_URL"):
        settings_for(tmp_path, BASE_URL=value)


def test_prod_refuses_to_start_without_secret_key(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        settings_for(tmp_path, APP_ENV="prod", DATA_KEYS=PROD_SECRETS["DATA_KEYS"])
    assert not (tmp_path / "secret_key").exists()  # prod never generates secrets


def test_prod_refuses_to_start_without_data_keys(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="DATA_KEYS"):
        settings_for(tmp_path, APP_ENV="prod", SECRET_KEY="x" * 40)


def test_prod_refuses_the_console_sms_backend(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="console"):
        settings_for(tmp_path, APP_ENV="prod", **{**PROD_SECRETS, "SMS_BACKEND": "console"})


def test_prod_without_an_sms_backend_starts_with_sms_off_and_a_warning(tmp_path: Path) -> None:
    environ = {key: value for key, value in PROD_SECRETS.items() if key != "SMS_BACKEND"}
    settings = settings_for(tmp_path, APP_ENV="prod", **environ)
    assert settings.sms.kind == "none"
    assert any("SMS_BACKEND" in warning for warning in settings.warnings)


def test_prod_with_its_secrets_starts(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, APP_ENV="prod", BASE_URL="https://sosuckhoe.example.vn", **PROD_SECRETS)
    assert settings.is_prod and settings.sms.kind == "file"


def test_a_short_secret_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="at least 32"):
        settings_for(tmp_path, SECRET_KEY="short")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "k1",
        "k1:not-base64!",
        "k1:" + base64.b64encode(b"short").decode(),
        "k 1:" + "A" * 43,
        "k1:" + base64.b64encode(b"k" * 32).decode() + ",k1:" + base64.b64encode(b"j" * 32).decode(),
    ],
)
def test_malformed_data_keys_are_refused(tmp_path: Path, raw: str) -> None:
    with pytest.raises(SettingsError, match="DATA_KEYS"):
        settings_for(tmp_path, DATA_KEYS=raw or ",")


def test_data_keys_keyring_keeps_its_order(tmp_path: Path) -> None:
    new, old = base64.urlsafe_b64encode(b"n" * 32).decode(), base64.b64encode(b"o" * 32).decode()
    settings = settings_for(tmp_path, DATA_KEYS=f"k2:{new},k1:{old}")
    assert [key.key_id for key in settings.data_keys] == ["k2", "k1"]
    assert settings.data_keys[0].key == b"n" * 32


def test_sms_http_backend_needs_its_url_and_token(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SMS_HTTP_URL"):
        settings_for(tmp_path, SMS_BACKEND="http")
    settings = settings_for(tmp_path, SMS_BACKEND="http", SMS_HTTP_URL="https://sms.example", SMS_HTTP_TOKEN="tok-9f3e")
    assert settings.sms.url == "https://sms.example" and "tok-9f3e" not in repr(settings.sms)


def test_forwarded_allow_ips_takes_addresses_and_networks(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, FORWARDED_ALLOW_IPS="10.0.0.1, 192.168.0.0/16")
    assert ipaddress.ip_address("192.168.4.2") in settings.forwarded_allow_ips[1]
    with pytest.raises(SettingsError, match="FORWARDED_ALLOW_IPS"):
        settings_for(tmp_path, FORWARDED_ALLOW_IPS="proxy.local")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "http"),
        ("PORT", "70000"),
        ("WORKERS", "0"),
        ("HTTP_HEADER_TIMEOUT", "0"),
        ("HTTP_HEADER_TIMEOUT", "soon"),
        ("DEMO_DATA", "maybe"),
        ("APP_ENV", "staging"),
        ("DATABASE_POOLER", "session"),
    ],
)
def test_bad_values_name_their_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        settings_for(tmp_path, **{name: value})


def test_a_transaction_pooler_is_named_with_its_address(tmp_path: Path) -> None:
    assert not settings_for(tmp_path).transaction_pooler
    pooled = settings_for(tmp_path, DATABASE_POOLER="transaction", DATABASE_URL="postgresql://app@pgbouncer:6432/hb")
    assert pooled.transaction_pooler
    with pytest.raises(SettingsError, match="DATABASE_POOLER=transaction needs DATABASE_URL"):
        settings_for(tmp_path, DATABASE_POOLER="transaction")


def test_secrets_never_appear_in_repr(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, SECRET_KEY="s" * 40)
    assert "s" * 40 not in repr(settings)
    assert repr(settings.data_keys[0].key) not in repr(settings)


def test_a_base_url_too_long_for_a_share_link_is_refused_at_start(tmp_path: Path) -> None:
    fits = "https://" + "a" * (76 - len("https://"))
    assert load_settings({"VAR_DIR": str(tmp_path), "BASE_URL": fits}).base_url == fits
    with pytest.raises(SettingsError, match="share links fit only 76"):
        load_settings({"VAR_DIR": str(tmp_path), "BASE_URL": fits + "a"})
