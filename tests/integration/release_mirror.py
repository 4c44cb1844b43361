"""A loopback stand-in for the places a deploy downloads from, laid out like the real ones.

* the GitHub release of pinpoint-apm/pinpoint: ``<base>/github/v<v>/`` holding
  ``pinpoint-{collector,web}-<v>-exec.jar`` and ``pinpoint-agent-<v>.tar.gz`` with no checksum
  file at all. Evidence, read in pinpoint-apm/pinpoint: ``.github/workflows/upload-release-assets.yml``
  (v3.1.0) attaches ``**/pinpoint-collector-*-exec.jar``, ``**/pinpoint-web-*-exec.jar`` and
  ``**/pinpoint-agent-*.tar.gz`` to the release and nothing else; the root pom.xml gives the
  ``maven.central.release`` profile ``spring-boot.repackage.skip=true`` from v3.0.5 on (absent at
  v3.0.4), so Maven Central holds no exec jar of 3.1.0 (probed 2026-12-07: every 3.1.0 URL under
  repo1.maven.org/maven2/com/navercorp/pinpoint answers 404, pinpoint-web-3.0.1-exec.jar exists);
* the Apache archive: ``<base>/apache/<v>/hbase-<v>-hadoop3-bin.tar.gz`` with a ``.sha512`` in
  the shape HBase's release script writes (``gpg --print-md SHA512``: upper-case groups of 8 hex
  digits wrapped over lines, apache/hbase dev-support/create-release/release-util.sh) or the
  ``sha512sum`` shape (``<hex>  <file>``);
* with ``jar_checksums=True``, the jars' directory is a mirror that publishes checksums (an
  artifact server in front of the release): a ``.sha1`` for the collector, a ``.sha512`` and a
  wrong ``.sha1`` for the web jar (the ``.sha512`` must win).

Only ``PINPOINT_VERSION`` / ``HBASE_VERSION`` exist, so any other version answers 404.
:func:`write_dockerfile` writes a Dockerfile that declares the image's downloads as the
images/pinpoint contract says (checksum args without defaults fail closed), so these tests do
not depend on the image's own Dockerfile.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

PINPOINT_VERSION = "3.1.0"
HBASE_VERSION = "2.6.4"
RELEASE = f"github/v{PINPOINT_VERSION}"
COLLECTOR = f"{RELEASE}/pinpoint-collector-{PINPOINT_VERSION}-exec.jar"
WEB = f"{RELEASE}/pinpoint-web-{PINPOINT_VERSION}-exec.jar"
HBASE = f"apache/{HBASE_VERSION}/hbase-{HBASE_VERSION}-hadoop3-bin.tar.gz"
AGENT = f"{RELEASE}/pinpoint-agent-{PINPOINT_VERSION}.tar.gz"
CONTENTS = {
    COLLECTOR: b"collector jar\n" * 1000,
    WEB: b"web jar\n" * 3000,
    HBASE: b"hbase tarball\n" * 2000,
    AGENT: b"agent tarball\n",
}
ChecksumStyle = Literal["gpg", "sha512sum"]


def gpg_print_md_sha512(name: str, data: bytes) -> str:
    """What ``gpg --print-md SHA512 <name>`` prints: ``name: XXXXXXXX ...`` in wrapped upper-case groups."""
    digest = hashlib.sha512(data).hexdigest().upper()
    groups = [digest[i : i + 8] for i in range(0, len(digest), 8)]
    indent = " " * (len(name) + 2)
    rows = [" ".join(groups[i : i + 6]) for i in range(0, len(groups), 6)]
    return f"{name}: " + f"\n{indent}".join(rows) + "\n"


def sha512sum_line(name: str, data: bytes) -> str:
    return f"{hashlib.sha512(data).hexdigest()}  {name}\n"


def mirror_settings(base_url: str) -> dict[str, Any]:
    """Settings pointing every download of the deploy at a mirror laid out like this one (the
    GitHub release under github/, the Apache archive under apache/), as a mirror user sets them."""
    return {
        "agent_download_base_url": f"{base_url}/github",
        "image_build_args": {
            "PINPOINT_BASE_URL": f"{base_url}/github",
            "HBASE_BASE_URL": f"{base_url}/apache",
        },
    }


@dataclass(frozen=True)
class ReleaseMirror:
    root: Path
    base_url: str

    def url(self, relative: str) -> str:
        return f"{self.base_url}/{relative}"

    def sha512(self, relative: str) -> str:
        return hashlib.sha512((self.root / relative).read_bytes()).hexdigest()

    def settings(self) -> dict[str, Any]:
        """Settings pointing every download at this mirror (as a mirror user would set them)."""
        return mirror_settings(self.base_url)

    def pinned_settings(self) -> dict[str, Any]:
        """``settings()`` with every checksum already pinned (a deploy that needs no pinning)."""
        settings = self.settings()
        settings["agent_sha512"] = self.sha512(AGENT)
        settings["image_build_args"] |= {
            "PINPOINT_COLLECTOR_SHA512": self.sha512(COLLECTOR),
            "PINPOINT_WEB_SHA512": self.sha512(WEB),
            "HBASE_SHA512": self.sha512(HBASE),
        }
        return settings


def lay_out(
    root: Path, base_url: str, *, hbase_checksum: ChecksumStyle = "gpg", jar_checksums: bool = False
) -> ReleaseMirror:
    """Write the artifacts and their companion checksum files under ``root``."""
    for relative, data in CONTENTS.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    if jar_checksums:
        (root / f"{COLLECTOR}.sha1").write_text(hashlib.sha1(CONTENTS[COLLECTOR]).hexdigest() + "\n")
        web_name = WEB.rsplit("/", 1)[-1]
        (root / f"{WEB}.sha512").write_text(sha512sum_line(web_name, CONTENTS[WEB]))
        (root / f"{WEB}.sha1").write_text("0" * 40 + "\n")  # wrong on purpose: the .sha512 must win
    hbase_name = HBASE.rsplit("/", 1)[-1]
    render = gpg_print_md_sha512 if hbase_checksum == "gpg" else sha512sum_line
    (root / f"{HBASE}.sha512").write_text(render(hbase_name, CONTENTS[HBASE]))
    return ReleaseMirror(root, base_url)


def write_dockerfile(path: Path) -> Path:
    """The images/pinpoint download contract: version/base-URL args with defaults, checksum args
    without (fail closed); a later stage repeats an ARG with another default (the first wins)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "FROM scratch AS fetch\n"
        f"ARG PINPOINT_VERSION={PINPOINT_VERSION}\n"
        f"ARG HBASE_VERSION={HBASE_VERSION}\n"
        "ARG PINPOINT_BASE_URL=https://github.com/pinpoint-apm/pinpoint/releases/download\n"
        "ARG HBASE_BASE_URL=https://archive.apache.org/dist/hbase\n"
        "ARG HBASE_SHA512=\n"
        "ARG PINPOINT_COLLECTOR_SHA512=\n"
        "ARG PINPOINT_WEB_SHA512=\n"
        "FROM scratch\n"
        "ARG HBASE_VERSION=0.0.1\n"
    )
    return path
