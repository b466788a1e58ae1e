"""Which proxy a request goes through: ``proxies=`` in code, else the environment.

Rules:

* ``proxies=`` (a Session's, or a call's) replaces the environment entirely, as code always
  wins over the environment in securl: ``{"https": "http://proxy:3128", "http": ...,
  "all": ..., "no_proxy": "localhost,.internal"}``. Without it, ``HTTPS_PROXY``,
  ``HTTP_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` are read when the Session is made (unless
  ``proxies_from_env=False``).
* A proxy URL is ``http://`` or ``https://`` with a host; credentials in it
  (``http://user:password@proxy:3128``) go only to the proxy, as ``Proxy-Authorization``
  (``securl.http.pool``), never to the origin. An ``https://`` proxy is spoken to over
  verified TLS.
* ``no_proxy`` lists hosts (and domains, with or without a leading dot) reached directly;
  ``*`` means every host. It is read as ``NO_PROXY`` is, by urllib's rule.
"""

from __future__ import annotations

import types
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .._redact import redact_url
from ..exceptions import ConfigurationError

if TYPE_CHECKING:
    from .target import Target

__all__ = ["NO_PROXIES", "ProxiesInput", "coerce_proxies", "environment_proxies", "proxy_for"]

ProxiesInput = Mapping[str, str] | None
_KEYS = ("http", "https", "all", "no_proxy")

#: No proxy at all.
NO_PROXIES: Mapping[str, str] = types.MappingProxyType({})


def environment_proxies() -> Mapping[str, str]:
    """The proxy variables of the environment, in ``proxies=`` form."""
    import urllib.request  # only when a Session is made: it is slow to import

    found = urllib.request.getproxies_environment()
    out = {k: v for k, v in found.items() if k in ("http", "https", "all")}
    if found.get("no"):
        out["no_proxy"] = found["no"]
    return types.MappingProxyType(out)


def _check_url(key: str, url: object) -> str:
    if not isinstance(url, str):
        raise ConfigurationError(f"proxies[{key!r}] must be a URL str, not {type(url).__name__}")
    parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise ConfigurationError(
            f"proxies[{key!r}]={redact_url(url)!r}: give http://host:port or https://host:port")
    return url if "://" in url else f"http://{url}"


def coerce_proxies(value: object) -> Mapping[str, str]:
    """``proxies=`` checked, as a read-only mapping (`NO_PROXIES` for ``None``)."""
    if value is None:
        return NO_PROXIES
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"proxies= must be a dict such as {{'https': 'http://proxy:3128'}}, not "
            f"{type(value).__name__}")
    out: dict[str, str] = {}
    for key, url in value.items():
        if key not in _KEYS:
            raise ConfigurationError(
                f"proxies= has an unknown key {key!r}: use 'http', 'https', 'all' (a proxy "
                "URL each) or 'no_proxy' (hosts reached directly)")
        if key == "no_proxy":
            if not isinstance(url, str):
                raise ConfigurationError("proxies['no_proxy'] must be a comma-separated str")
            out[key] = url
        elif url is not None:
            out[key] = _check_url(key, url)
    return types.MappingProxyType(out)


def _bypassed(host: str, no_proxy: str) -> bool:
    """The environment's ``NO_PROXY`` rule (urllib's), applied to ``no_proxy``."""
    import urllib.request

    return bool(urllib.request.proxy_bypass_environment(  # type: ignore[attr-defined]
        host, {"no": no_proxy}))


def proxy_for(proxies: Mapping[str, str], target: Target) -> str | None:
    """The proxy URL ``target`` goes through, or None to connect directly."""
    if not proxies:
        return None
    no_proxy = proxies.get("no_proxy")
    if no_proxy and _bypassed(target.host, no_proxy):
        return None
    return proxies.get(target.scheme) or proxies.get("all")
