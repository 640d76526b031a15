"""Typed settings, read once from the environment (contract §2).

`load_settings()` is the only place that reads `os.environ`; everything else receives a `Settings`.
In `dev`, missing secrets are generated once under `var/` so that restarts and several workers share
them; in `prod` they must be given.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from backend.paths import DEFAULT_VAR_DIR

AppEnv = Literal["dev", "prod"]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104 - recognising, not binding
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
_MIN_SECRET_KEY_LENGTH = 32
_DATA_KEY_BYTES = 32  # AES-256


class SettingsError(Exception):
    """The environment cannot be turned into working settings; the message says which variable and why."""


@dataclass(frozen=True)
class DataKey:
    """One entry of the `DATA_KEYS` keyring: the id is stored beside each ciphertext it makes."""

    key_id: str
    key: bytes = field(repr=False)


@dataclass(frozen=True)
class SmsBackend:
    """Where one-time codes go: `console` (stderr), `file` (JSON lines at `path`) or `http` (a gateway)."""

    kind: Literal["console", "file", "http", "none"]
    path: Path | None = None
    url: str | None = None
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Settings:
    app_env: AppEnv
    database_url: str | None = field(repr=False)  # may hold a password
    # DATABASE_POOLER=transaction: DATABASE_URL reaches PostgreSQL through a transaction-pooling proxy
    # (PgBouncer's pool_mode=transaction), where nothing outlives a transaction (docs/scaling.md)
    transaction_pooler: bool
    host: str
    port: int
    base_url: str
    secret_key: str = field(repr=False)
    data_keys: tuple[DataKey, ...] = field(repr=False)
    sms: SmsBackend
    sms_daily_budget: int
    oidc_issuer: str | None
    oidc_client_id: str | None
    oidc_client_secret: str | None = field(repr=False)
    oidc_cccd_claim: str
    forwarded_allow_ips: tuple[IPNetwork, ...]
    workers: int
    header_timeout: float  # seconds a client has to send a request's head (slowloris)
    demo_data: bool
    openapi_public: bool
    var_dir: Path
    log_level: str
    warnings: tuple[str, ...] = ()

    @property
    def is_prod(self) -> bool:
        return self.app_env == "prod"

    @property
    def secure_origin(self) -> bool:
        """https, or loopback http: where browsers allow `Secure` cookies, service workers and WebCrypto."""
        parts = urlsplit(self.base_url)
        return parts.scheme == "https" or (parts.hostname or "") in _LOOPBACK_HOSTS

    @property
    def cookie_prefix(self) -> str:
        """`__Host-` wherever the browser will keep such a cookie (it must be `Secure`)."""
        return "__Host-" if self.secure_origin else ""

    def cookie_name(self, name: str) -> str:
        """`session` → `__Host-session` (standards: Sign-in)."""
        return f"{self.cookie_prefix}{name}"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from `environ` (default: the process environment) or raise `SettingsError`."""
    env = os.environ if environ is None else environ
    warnings: list[str] = []

    app_env = _choice(env, "APP_ENV", ("dev", "prod"), "dev")
    is_prod = app_env == "prod"
    var_dir = Path(env.get("VAR_DIR") or DEFAULT_VAR_DIR).resolve()

    host = env.get("HOST", "127.0.0.1")
    port = _integer(env, "PORT", 8000, minimum=1, maximum=65535)
    base_url = _base_url(env, host, port, warnings)

    secret_key = env.get("SECRET_KEY", "")
    if not secret_key:
        if is_prod:
            raise SettingsError("APP_ENV=prod needs SECRET_KEY (at least 32 random characters); none is set")
        secret_key = _dev_secret(var_dir / "secret_key", lambda: secrets.token_urlsafe(48))
    elif len(secret_key) < _MIN_SECRET_KEY_LENGTH:
        raise SettingsError(f"SECRET_KEY must be at least {_MIN_SECRET_KEY_LENGTH} characters long")

    raw_keys = env.get("DATA_KEYS", "")
    if not raw_keys:
        if is_prod:
            raise SettingsError("APP_ENV=prod needs DATA_KEYS (id:base64key,...); none is set")
        raw_keys = _dev_secret(var_dir / "data_keys", _new_data_keyring)
    data_keys = parse_data_keys(raw_keys)

    transaction_pooler = _choice(env, "DATABASE_POOLER", ("none", "transaction"), "none") == "transaction"
    if transaction_pooler and not env.get("DATABASE_URL"):
        raise SettingsError("DATABASE_POOLER=transaction needs DATABASE_URL (the pooler's address)")

    sms = _sms_backend(env, is_prod, warnings)
    oidc_issuer = env.get("OIDC_ISSUER") or None
    if oidc_issuer and not (env.get("OIDC_CLIENT_ID") and env.get("OIDC_CLIENT_SECRET")):
        raise SettingsError("OIDC_ISSUER needs OIDC_CLIENT_ID and OIDC_CLIENT_SECRET")
    if is_prod and not oidc_issuer:
        warnings.append(
            "OIDC_ISSUER is not set: sign-in with the national identity app is off "
            "(the built-in demo identity provider runs only in APP_ENV=dev)"
        )

    return Settings(
        app_env=app_env,  # type: ignore[arg-type]  # checked by _choice
        database_url=env.get("DATABASE_URL") or None,
        transaction_pooler=transaction_pooler,
        host=host,
        port=port,
        base_url=base_url,
        secret_key=secret_key,
        data_keys=data_keys,
        sms=sms,
        sms_daily_budget=_integer(env, "SMS_DAILY_BUDGET", 10_000, minimum=0),
        oidc_issuer=oidc_issuer,
        oidc_client_id=env.get("OIDC_CLIENT_ID") or None,
        oidc_client_secret=env.get("OIDC_CLIENT_SECRET") or None,
        oidc_cccd_claim=env.get("OIDC_CCCD_CLAIM") or "cccd",
        forwarded_allow_ips=_networks(env.get("FORWARDED_ALLOW_IPS", "")),
        workers=_integer(env, "WORKERS", 1, minimum=1, maximum=64),
        header_timeout=_integer(env, "HTTP_HEADER_TIMEOUT", 20, minimum=1, maximum=300),
        demo_data=_flag(env, "DEMO_DATA", default=True),
        openapi_public=_flag(env, "OPENAPI_PUBLIC", default=False),
        var_dir=var_dir,
        log_level=_choice(env, "LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO", upper=True),
        warnings=tuple(warnings),
    )


def parse_data_keys(raw: str) -> tuple[DataKey, ...]:
    """`id1:base64key,id2:…` → keyring; the first key encrypts, every key decrypts."""
    keys: list[DataKey] = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key_id, sep, encoded = item.partition(":")
        if not sep or not key_id or not key_id.isalnum():
            raise SettingsError("DATA_KEYS must look like id1:base64key,id2:base64key (ids are letters/digits)")
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != _DATA_KEY_BYTES:
            raise SettingsError(f"DATA_KEYS entry {key_id!r} must be {_DATA_KEY_BYTES} bytes, base64-encoded")
        if any(existing.key_id == key_id for existing in keys):
            raise SettingsError(f"DATA_KEYS lists the id {key_id!r} twice")
        keys.append(DataKey(key_id, key))
    if not keys:
        raise SettingsError("DATA_KEYS holds no key")
    return tuple(keys)


def _new_data_keyring() -> str:
    return "k1:" + base64.urlsafe_b64encode(secrets.token_bytes(_DATA_KEY_BYTES)).decode().rstrip("=")


def _dev_secret(path: Path, make: Callable[[], str]) -> str:
    """Read a generated dev secret, creating it once; safe when several processes start together."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(make() + "\n")
    try:
        os.link(temporary, path)  # atomic: exactly one process's secret wins
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_text().strip()


# A share's manifest URL is BASE_URL + "/api/shl/" + a 43-character token, and the SHL spec allows 128.
MAX_BASE_URL_LENGTH = 128 - len("/api/shl/") - 43


def _base_url(env: Mapping[str, str], host: str, port: int, warnings: list[str]) -> str:
    explicit = env.get("BASE_URL", "").rstrip("/")
    if explicit:
        parts = urlsplit(explicit)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
            raise SettingsError("BASE_URL must be an origin such as https://sosuckhoe.hanoi.gov.vn")
        base_url = explicit
    else:
        shown = "127.0.0.1" if host in _WILDCARD_HOSTS else host
        if ":" in shown and not shown.startswith("["):
            shown = f"[{shown}]"
        base_url = f"http://{shown}:{port}"
    if len(base_url) > MAX_BASE_URL_LENGTH:
        raise SettingsError(
            f"BASE_URL has {len(base_url)} characters; share links fit only {MAX_BASE_URL_LENGTH} (a SMART Health"
            " Link's manifest URL is at most 128 characters): use a shorter host name"
        )
    parts = urlsplit(base_url)
    if parts.scheme != "https" and (parts.hostname or "") not in _LOOPBACK_HOSTS:
        warnings.append(
            f"BASE_URL {base_url} is neither https nor loopback: browsers will refuse the service worker, "
            "WebCrypto and the camera there, and cookies lose their __Host- prefix"
        )
    return base_url


def _sms_backend(env: Mapping[str, str], is_prod: bool, warnings: list[str]) -> SmsBackend:
    raw = env.get("SMS_BACKEND", "")
    if not raw:
        if is_prod:
            warnings.append("SMS_BACKEND is not set: sign-in by text message is switched off")
            return SmsBackend("none")
        raw = "console"
    if raw == "console":
        if is_prod:
            raise SettingsError("SMS_BACKEND=console prints codes to the log and is refused in APP_ENV=prod")
        return SmsBackend("console")
    if raw.startswith("file:") and len(raw) > len("file:"):
        return SmsBackend("file", path=Path(raw.removeprefix("file:")))
    if raw == "http":
        url, token = env.get("SMS_HTTP_URL", ""), env.get("SMS_HTTP_TOKEN", "")
        if not url or not token:
            raise SettingsError("SMS_BACKEND=http needs SMS_HTTP_URL and SMS_HTTP_TOKEN")
        return SmsBackend("http", url=url, token=token)
    raise SettingsError("SMS_BACKEND must be console, file:PATH or http")


def _networks(raw: str) -> tuple[IPNetwork, ...]:
    networks: list[IPNetwork] = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        if item == "*":
            networks += [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise SettingsError(f"FORWARDED_ALLOW_IPS: {item!r} is not an IP address or network") from exc
    return tuple(networks)


def _integer(env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from exc
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise SettingsError(f"{name} must be {bounds}, not {value}")
    return value


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be 0 or 1, not {raw!r}")


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str, *, upper: bool = False) -> str:
    raw = env.get(name, "") or default
    value = raw.upper() if upper else raw
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, not {raw!r}")
    return value
