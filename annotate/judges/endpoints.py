"""The operator's list of judge endpoints: the only hosts the server sends item text and API keys to.

A researcher names an endpoint; the operator decides what that name means. The list is a JSON file
that only the operator writes (a file on the server, like the database), read from
`$ANNOTATE_ENDPOINTS`, else `data/endpoints.json`:

    {"endpoints": [
        {"name": "local-vllm", "base_url": "http://127.0.0.1:8000/v1"},
        {"name": "openai", "base_url": "https://api.openai.com/v1", "api_key_env": "OPENAI_API_KEY"}
    ]}

Why: a judge config that carried its own URL and the name of an environment variable let anyone
who may register a judge send any server secret (HF_TOKEN, cloud credentials) as a Bearer header to
a host of their choice, and make the server POST to internal addresses (SSRF). Now the secret is
bound to its endpoint by the operator, and a judge config holds neither a URL nor a variable name.

Addresses: when the judge is built and again at every new connection, the endpoint's host is
resolved and every address it resolves to is checked; the connection goes to an address that was
just checked (CheckedBackend), so a DNS answer cannot change between check and use. Loopback,
link-local, private, reserved and multicast addresses are refused unless the operator wrote that
address (or `localhost`) in the entry itself, or set `"allow_private": true` for a host name that
resolves inside the network. So a listed `http://127.0.0.1:8000/v1` vLLM works, while a public name
whose DNS later points at 169.254.169.254 does not, not even in the middle of a run.
"""
from __future__ import annotations

import ipaddress
import json
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, ValidationError, field_validator

from annotate.errors import ConfigError

if TYPE_CHECKING:  # imported when a judge is built, not by every page that lists endpoints
    import httpcore
    import httpx

ENDPOINTS_ENV_VAR = "ANNOTATE_ENDPOINTS"
DEFAULT_ENDPOINTS_PATH = Path("data/endpoints.json")
LOCAL_NAMES = {"localhost", "localhost.localdomain"}
ERROR_TEXT_LIMIT = 300


class Endpoint(BaseModel):
    """One allowed endpoint: its name (what researchers pick), its /v1 URL, and the environment
    variable that holds its API key (None: no key is sent)."""
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    base_url: str
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    allow_private: bool = Field(default=False, description="allow a host name that resolves to a "
                                                           "loopback, link-local or private address")

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.username or parts.password:
            raise ValueError("must not carry a user name or password (use api_key_env)")
        return value.rstrip("/")

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    def api_key(self) -> str | None:
        """The key from the operator's environment variable, or None when the entry has none.

        Raises:
            ConfigError: the entry names a variable that is not set.
        """
        if not self.api_key_env:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ConfigError(f"Endpoint '{self.name}': the operator's environment variable {self.api_key_env} "
                              f"is not set on the server")
        return key


def endpoints_path() -> Path:
    """Where the operator's endpoint list is read from: $ANNOTATE_ENDPOINTS, else data/endpoints.json."""
    return Path(os.environ.get(ENDPOINTS_ENV_VAR) or DEFAULT_ENDPOINTS_PATH)


def load_endpoints() -> dict[str, Endpoint]:
    """The operator's endpoints by name ({} when the file does not exist: no endpoint judges).

    Raises:
        ConfigError: the file is not valid JSON or an entry is invalid (naming the file and entry).
    """
    path = endpoints_path()
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"Endpoint list {path} line {exc.lineno}: invalid JSON ({exc.msg})") from None
    except OSError as exc:
        raise ConfigError(f"Endpoint list {path} cannot be read ({exc.strerror})") from None
    entries = raw.get("endpoints") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(f"Endpoint list {path}: expected {{\"endpoints\": [{{\"name\": ..., \"base_url\": ...}}]}}")
    endpoints: dict[str, Endpoint] = {}
    for number, entry in enumerate(entries, start=1):
        try:
            endpoint = Endpoint.model_validate(entry)
        except ValidationError as exc:
            fields = "; ".join(f"field '{'.'.join(map(str, e['loc'])) or '(root)'}': {e['msg']}" for e in exc.errors())
            raise ConfigError(f"Endpoint list {path}, entry {number}: {fields}") from None
        if endpoint.name in endpoints:
            raise ConfigError(f"Endpoint list {path}, entry {number}: the name '{endpoint.name}' is listed twice")
        endpoints[endpoint.name] = endpoint
    return endpoints


def endpoint_names() -> list[str]:
    """The names researchers may pick, in the order the operator listed them."""
    return list(load_endpoints())


def get_endpoint(name: str | None) -> Endpoint:
    """The listed endpoint called `name`.

    Raises:
        ConfigError: no name given, or the name is not on the operator's list.
    """
    endpoints = load_endpoints()
    known = ", ".join(endpoints) or f"none yet: the operator lists them in {endpoints_path()}"
    if not name:
        raise ConfigError(f"An openai judge needs 'endpoint': the name of an endpoint the operator allows ({known})")
    if name not in endpoints:
        raise ConfigError(f"Endpoint '{name}' is not on the operator's list of allowed endpoints ({known})")
    return endpoints[name]


def check_addresses(endpoint: Endpoint) -> list[str]:
    """Resolve the endpoint's host and refuse it if any address is internal and not allowed;
    return the addresses (empty when the operator allowed the host as written: nothing to check).

    Internal: loopback, link-local, private, reserved, multicast or unspecified. Allowed when the
    operator wrote an IP literal or `localhost` in the entry, or set allow_private.

    Raises:
        ConfigError: the host does not resolve, or resolves to an internal address not allowed.
    """
    host = endpoint.host
    if endpoint.allow_private or host.lower() in LOCAL_NAMES or _is_ip_literal(host):
        return []
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(f"Endpoint '{endpoint.name}': host {host} cannot be resolved ({exc})") from None
    addresses = list(dict.fromkeys(info[4][0].split("%")[0] for info in infos))
    for address in map(ipaddress.ip_address, addresses):
        if is_internal(address):
            raise ConfigError(f"Endpoint '{endpoint.name}': host {host} resolves to the internal address {address}; "
                              f"refused (the operator may list that address itself, or set allow_private)")
    return addresses


class CheckedBackend:
    """httpcore's network backend that checks the endpoint's addresses at every new connection and
    connects to the address it checked: a DNS answer that changes after the first check (DNS
    rebinding, a short TTL pointing at 169.254.169.254 later in a run) cannot reach an internal
    address, because the name is never resolved again between the check and the connect. TLS still
    verifies the certificate against the host name (httpcore passes it separately). It has
    httpcore.NetworkBackend's methods; httpcore is imported only when a judge is built."""

    def __init__(self, endpoint: Endpoint, inner: httpcore.NetworkBackend) -> None:
        self.endpoint, self.inner = endpoint, inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options=None) -> httpcore.NetworkStream:
        if _ascii_host(host) == _ascii_host(self.endpoint.host):  # not a proxy the operator configured
            try:
                addresses = check_addresses(self.endpoint)
            except ConfigError as exc:
                import httpcore
                raise httpcore.ConnectError(str(exc)) from None  # httpx turns it into its ConnectError
            host = addresses[0] if addresses else host
        return self.inner.connect_tcp(host, port, timeout, local_address, socket_options)

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options=None) -> httpcore.NetworkStream:
        return self.inner.connect_unix_socket(path, timeout, socket_options)

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def checked_transport(endpoint: Endpoint) -> httpx.HTTPTransport:
    """httpx's own transport (TLS, proxies from the environment, pooling) whose connections go
    through CheckedBackend. httpx has no public hook for the network backend, so the pool's is
    wrapped; tests/test_judges_endpoints.py fails if a release of httpx moves it."""
    import httpx
    transport = httpx.HTTPTransport()
    transport._pool._network_backend = CheckedBackend(endpoint, transport._pool._network_backend)
    return transport


def is_internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address is inside a network rather than on the internet (IPv4-mapped IPv6 included)."""
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return (address.is_loopback or address.is_link_local or address.is_private or address.is_reserved
            or address.is_multicast or address.is_unspecified)


def _ascii_host(host: str) -> str:
    """A host name as it goes on the wire (an internationalized name in its xn-- form), lower case."""
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return host.lower()


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def safe_error_text(text: str, secrets: tuple[str | None, ...] = (), limit: int = ERROR_TEXT_LIMIT) -> str:
    """Error text from an endpoint as it may be stored and shown: the secrets blanked out (an
    endpoint may echo the request's Authorization header back) and cut to `limit` characters."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
