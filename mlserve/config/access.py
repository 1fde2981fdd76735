"""Who may call what: the API keys and admin keys a server reads from the environment, and
whether its admin operations are open without a key (on a loopback bind only). HTTP and gRPC
read the same keys from here and compare them the same way."""

from __future__ import annotations

import hmac
import ipaddress
import os
from dataclasses import dataclass

from mlserve.config.schema import ServerSpec
from mlserve.errors import ManifestError


def keys_from_env(variable: str | None) -> list[str]:
    """The keys in $variable, comma-separated so that an old and a new key can overlap."""
    if variable is None:
        return []
    keys = [k.strip() for k in os.environ.get(variable, "").split(",") if k.strip()]
    if not keys:
        raise ManifestError(
            f"API keys are to come from ${variable}, but it is not set or "
            "empty; set it (several keys: comma-separated) or drop api_key_env"
        )
    return keys


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def key_matches(given: bytes, keys: list[bytes]) -> bool:
    """Whether `given` is one of `keys`. Every key is compared, in constant time, so the
    time taken does not tell which one was close."""
    matches = [hmac.compare_digest(given, key) for key in keys]
    return bool(given) and any(matches)


@dataclass(frozen=True)
class Access:
    api_keys: list[bytes]  # empty: inference needs no key
    admin_keys: list[bytes]
    admin_on: bool  # admin operations exist: with an admin key, or on a loopback bind

    @classmethod
    def of(cls, server: ServerSpec) -> Access:
        """Read the keys now: a server whose key variable is unset refuses to start."""
        api = [k.encode() for k in keys_from_env(server.api_key_env)]
        admin = [k.encode() for k in keys_from_env(server.admin_key_env)]
        return cls(api, admin, bool(admin) or is_loopback(server.host))
