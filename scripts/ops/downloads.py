"""HTTP downloads hashed on the way, and the checksums repositories publish next to files."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import requests

from scripts.ops.errors import ScriptError, one_line
from scripts.ops.output import Reporter

# Connect, then per-read: an unreachable mirror fails in seconds, a slow one is not cut off.
TIMEOUT = (10.0, 60.0)
CHUNK = 1 << 20
# A companion file is one hex digest, optionally followed by the file name (sha1sum format).
COMPANION_MAX_BYTES = 4096
# Companion checksums a repository may publish next to a file, preferred first, with hex length.
PUBLISHED_DIGESTS = {"sha512": 128, "sha1": 40}
MISSING = (404, 410)


@dataclass(frozen=True)
class Published:
    """A checksum the repository publishes next to the artifact."""

    algorithm: str
    digest: str
    url: str


def http_error(url: str, error: Exception) -> ScriptError:
    # Connection errors wrap urllib3's MaxRetryError, whose text repeats the URL: keep its cause.
    cause = getattr(error.args[0], "reason", None) if error.args else None
    return ScriptError(f"cannot download {url}: {one_line(cause or error)}")


def check_status(url: str, response: requests.Response) -> None:
    # requests' own HTTPError repeats the URL; the one line names it once.
    if not response.ok:
        raise ScriptError(f"cannot download {url}: HTTP {response.status_code} {response.reason}")


def published_checksum(session: requests.Session, url: str) -> Published | None:
    """The checksum the repository publishes next to ``url`` (``.sha512``, else ``.sha1``), if any."""
    for algorithm, length in PUBLISHED_DIGESTS.items():
        companion = f"{url}.{algorithm}"
        try:
            with session.get(companion, timeout=TIMEOUT, stream=True) as response:
                if response.status_code in MISSING:
                    continue
                check_status(companion, response)
                text = response.raw.read(COMPANION_MAX_BYTES, decode_content=True).decode("ascii", "replace")
        except requests.RequestException as error:
            raise http_error(companion, error) from None
        fields = text.split()
        digest = fields[0].lower() if fields else ""
        if not re.fullmatch(rf"[0-9a-f]{{{length}}}", digest):
            raise ScriptError(f"{companion} does not hold a {algorithm} digest: {text[:80]!r}")
        return Published(algorithm, digest, companion)
    return None


def download_digests(
    session: requests.Session, url: str, algorithms: tuple[str, ...], out: Reporter
) -> dict[str, str]:
    """Stream ``url`` once, hashing with every algorithm in ``algorithms`` on the way."""
    digests = {algorithm: hashlib.new(algorithm) for algorithm in algorithms}
    try:
        with session.get(url, timeout=TIMEOUT, stream=True) as response:
            check_status(url, response)
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with out.download_progress(url) as advance:
                for chunk in response.iter_content(CHUNK):
                    for digest in digests.values():
                        digest.update(chunk)
                    advance(len(chunk), total)
    except requests.RequestException as error:
        raise http_error(url, error) from None
    return {algorithm: digest.hexdigest() for algorithm, digest in digests.items()}
