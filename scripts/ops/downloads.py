"""HTTP downloads hashed on the way, existence probes, and the checksums repositories publish.

Published checksum files come in the shapes release tools write:

* ``sha512sum``/``sha1sum`` style, ``<hex>  <file>`` (one line per file), or the bare digest
  (Maven Central's ``.sha1``/``.sha512``);
* ``gpg --print-md SHA512`` style, ``<file>: 67C1F59B 7530A6F0 ...`` in upper-case groups
  wrapped over several lines: what HBase's release script writes
  (apache/hbase dev-support/create-release/release-util.sh, ``make_binary_release``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import requests

from scripts.ops.errors import ScriptError, one_line
from scripts.ops.output import Reporter

# Connect, then per-read: an unreachable mirror fails in seconds, a slow one is not cut off.
TIMEOUT = (10.0, 60.0)
PROBE_TIMEOUT = (5.0, 20.0)
CHUNK = 1 << 20
COMPANION_MAX_BYTES = 4096
# Companion checksums a repository may publish next to a file, preferred first, with hex length.
PUBLISHED_DIGESTS = {"sha512": 128, "sha1": 40}
MISSING = (404, 410)

_SUM_LINE = re.compile(r"^(?P<digest>[0-9A-Fa-f]+)(?:\s+\*?(?P<name>\S+))?$")
_GPG_PRINT_MD = re.compile(r"^(?P<name>[^\s:][^:]*?)\s*:\s*(?P<digest>[0-9A-Fa-f][0-9A-Fa-f\s]*)$")


@dataclass(frozen=True)
class Published:
    """A checksum the repository publishes next to the artifact."""

    algorithm: str
    digest: str
    url: str


def reason(error: Exception) -> str:
    """The cause of a requests error: connection errors wrap urllib3's MaxRetryError, whose text
    repeats the URL, so keep only its reason."""
    cause = getattr(error.args[0], "reason", None) if error.args else None
    return one_line(cause or error)


def http_error(url: str, error: Exception) -> ScriptError:
    return ScriptError(f"cannot download {url}: {reason(error)}")


def check_status(url: str, response: requests.Response) -> None:
    # requests' own HTTPError repeats the URL; the one line names it once.
    if not response.ok:
        raise ScriptError(f"cannot download {url}: HTTP {response.status_code} {response.reason}")


def parse_published(text: str, algorithm: str, filename: str, url: str) -> str:
    """The ``algorithm`` digest of ``filename`` in a published checksum file (any shape above)."""
    length = PUBLISHED_DIGESTS[algorithm]
    stripped = text.strip()
    candidates: list[tuple[str, str | None]] = []
    if match := _GPG_PRINT_MD.fullmatch(stripped):
        candidates.append(("".join(match["digest"].split()), match["name"].strip()))
    else:
        for line in stripped.splitlines():
            if line_match := _SUM_LINE.fullmatch(line.strip()):
                candidates.append((line_match["digest"], line_match["name"]))
    ours = [(digest, name) for digest, name in candidates if name in (None, filename)]
    if not ours and candidates:
        named = ", ".join(sorted({str(name) for _, name in candidates}))
        raise ScriptError(f"{url} holds checksums for {named}, not for {filename}")
    digest = ours[0][0].lower() if len(ours) == 1 else ""
    if not re.fullmatch(rf"[0-9a-f]{{{length}}}", digest):
        raise ScriptError(f"{url} does not hold a {algorithm} digest of {filename}: {stripped[:80]!r}")
    return digest


def published_checksum(session: requests.Session, url: str) -> Published | None:
    """The checksum the repository publishes next to ``url`` (``.sha512``, else ``.sha1``), if any."""
    filename = url.rsplit("/", 1)[-1]
    for algorithm in PUBLISHED_DIGESTS:
        companion = f"{url}.{algorithm}"
        try:
            with session.get(companion, timeout=TIMEOUT, stream=True) as response:
                if response.status_code in MISSING:
                    continue
                check_status(companion, response)
                text = response.raw.read(COMPANION_MAX_BYTES, decode_content=True).decode("ascii", "replace")
        except requests.RequestException as error:
            raise http_error(companion, error) from None
        return Published(algorithm, parse_published(text, algorithm, filename, companion), companion)
    return None


@dataclass(frozen=True)
class Probe:
    """What a URL answered to a one-byte ranged GET (``status`` None: no answer at all)."""

    url: str
    status: int | None
    detail: str

    @property
    def exists(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def missing(self) -> bool:
        return self.status in MISSING


def probe(session: requests.Session, url: str) -> Probe:
    """Ask for one byte of ``url`` without downloading it.

    A ranged GET, not HEAD: release hosts that redirect to object storage answer GET the same
    way the download will; a server that ignores ``Range`` answers 200 and the body is not read.
    """
    try:
        with session.get(url, headers={"Range": "bytes=0-0"}, timeout=PROBE_TIMEOUT, stream=True) as response:
            return Probe(url, response.status_code, f"HTTP {response.status_code} {response.reason}")
    except requests.RequestException as error:
        return Probe(url, None, reason(error))


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
