"""Pictures from the web, only from hosts the manifest names, fetched before layout starts.

Each hop (the first request and every redirect) must be http(s), to an allowed host, whose
every address is a public one: never loopback, private, link-local or reserved. There is a
timeout per request, a size cap, and the body must be a picture. The download is kept in
build/.remote/ so the renderer reads it like any local file."""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import socket
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from .paths import Refused

TIMEOUT = 10.0
MAX_BYTES = 20 * 1024 * 1024
MAX_REDIRECTS = 3
SUFFIXES = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp",
            "image/svg+xml": ".svg"}


def download_picture(url: str, allowed_hosts: list[str], cache: Path) -> Path:
    """The picture at `url`, downloaded into `cache` (or found there from an earlier build)."""
    key = hashlib.sha256(url.encode()).hexdigest()[:24]
    for suffix in SUFFIXES.values():
        if (cached := cache / f"{key}{suffix}").is_file():
            return cached
    allowed = {host.lower() for host in allowed_hosts}
    for _ in range(MAX_REDIRECTS + 1):
        parts = _vetted(url, allowed)
        status, location, mime, body = _get(parts)
        if status in (301, 302, 303, 307, 308) and location:
            url = urljoin(url, location)
            continue
        if status != 200:
            raise Refused(f"'{url}' answered {status}", "check the address in a browser")
        if mime not in SUFFIXES:
            raise Refused(f"'{url}' is not a picture ({mime or 'no type given'})")
        cache.mkdir(parents=True, exist_ok=True)
        path = cache / f"{key}{SUFFIXES[mime]}"
        path.write_bytes(body)
        return path
    raise Refused(f"'{url}' redirects more than {MAX_REDIRECTS} times")


def _vetted(url: str, allowed: set[str]) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https"):
        raise Refused(f"'{url}' is not an http(s) address")
    if host not in allowed:
        raise Refused(f"pictures from {host or url} are not allowed",
                      f"add '{host}' to remote_images in the manifest if you trust it")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for address in _addresses(host, port):
        if not is_public(address):
            raise Refused(f"{host} leads to {address}, a private or local address",
                          "pamphlet fetches pictures only from the public internet")
    path = parts.path or "/"
    return parts.scheme, host, port, path + (f"?{parts.query}" if parts.query else "")


def _addresses(host: str, port: int) -> list[str]:
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(host, port,
                                                                 type=socket.SOCK_STREAM)})
    except OSError as error:
        raise Refused(f"cannot find {host}: {error}") from None


def is_public(address: str) -> bool:
    return ipaddress.ip_address(address.split("%")[0]).is_global


def _get(parts: tuple[str, str, int, str]) -> tuple[int, str, str, bytes]:
    scheme, host, port, path = parts
    connection_type = (http.client.HTTPSConnection if scheme == "https"
                       else http.client.HTTPConnection)
    connection = connection_type(host, port, timeout=TIMEOUT)
    try:
        connection.request("GET", path, headers={"User-Agent": "pamphlet"})
        response = connection.getresponse()
        length = int(response.headers.get("Content-Length") or 0)
        if length > MAX_BYTES:
            raise Refused(f"the picture at {host} is {length >> 20} MB, more than "
                          f"{MAX_BYTES >> 20} MB")
        body = response.read(MAX_BYTES + 1)
        if len(body) > MAX_BYTES:
            raise Refused(f"the picture at {host} is more than {MAX_BYTES >> 20} MB")
        mime = (response.headers.get_content_type() or "").lower()
        return response.status, response.headers.get("Location", ""), mime, body
    except (OSError, http.client.HTTPException) as error:
        raise Refused(f"could not fetch the picture from {host}: {error}") from None
    finally:
        connection.close()
