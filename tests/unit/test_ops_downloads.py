"""Published checksum files in the shapes release tools write (scripts/ops/downloads.py)."""

from __future__ import annotations

import hashlib

import pytest

from scripts.ops.downloads import parse_published
from scripts.ops.errors import ScriptError

NAME = "hbase-2.6.5-hadoop3-bin.tar.gz"
DATA = b"hbase tarball\n"
SHA512 = hashlib.sha512(DATA).hexdigest()
URL = f"https://archive.apache.org/dist/hbase/2.6.5/{NAME}.sha512"


def gpg_style(name: str, hexdigest: str) -> str:
    """`gpg --print-md SHA512` output: upper-case groups of 8, wrapped, continuation indented."""
    groups = [hexdigest.upper()[i : i + 8] for i in range(0, len(hexdigest), 8)]
    indent = " " * (len(name) + 2)
    return (
        f"{name}: "
        + " ".join(groups[:6])
        + f"\n{indent}"
        + " ".join(groups[6:12])
        + f"\n{indent}"
        + " ".join(groups[12:])
        + "\n"
    )


@pytest.mark.parametrize(
    "text",
    [
        gpg_style(NAME, SHA512),
        gpg_style(NAME, SHA512).replace("\n", "\r\n"),
        f"{SHA512}  {NAME}\n",  # sha512sum
        f"{SHA512} *{NAME}\n",  # sha512sum --binary
        f"{SHA512}\n",  # the bare digest (Maven Central)
        f"{'0' * 128}  other.tar.gz\n{SHA512}  {NAME}\n",  # one line per file
    ],
    ids=["gpg", "gpg-crlf", "sha512sum", "sha512sum-binary", "bare", "several-files"],
)
def test_every_published_shape_yields_the_digest(text: str) -> None:
    assert parse_published(text, "sha512", NAME, URL) == SHA512


def test_sha1_companions_are_checked_for_their_own_length() -> None:
    sha1 = hashlib.sha1(DATA).hexdigest()
    assert parse_published(sha1 + "\n", "sha1", "x.jar", URL) == sha1
    with pytest.raises(ScriptError, match="does not hold a sha1 digest"):
        parse_published(SHA512, "sha1", "x.jar", URL)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        (
            f"{SHA512}  hbase-2.6.4-hadoop3-bin.tar.gz\n",
            "holds checksums for hbase-2.6.4-hadoop3-bin.tar.gz, not for",
        ),
        (gpg_style("hbase-2.6.4-bin.tar.gz", SHA512), "holds checksums for hbase-2.6.4-bin.tar.gz"),
        (f"{SHA512[:-2]}  {NAME}\n", "does not hold a sha512 digest"),
        ("<html>Not Found</html>", "does not hold a sha512 digest"),
        ("", "does not hold a sha512 digest"),
    ],
)
def test_anything_else_is_refused_naming_the_url(text: str, complaint: str) -> None:
    with pytest.raises(ScriptError, match=complaint) as error:
        parse_published(text, "sha512", NAME, URL)
    assert URL in str(error.value)
