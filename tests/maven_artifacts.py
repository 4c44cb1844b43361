"""Real components from Maven Central, fetched once and cached: what the image tests run.

What this machine's Maven Central serves (checked 2026-12-07 with ``mvn dependency:get`` and
ranged GETs; the README's "What is verified" repeats it):

* HBase: ``org.apache.hbase:hbase-server`` / ``hbase-zookeeper`` / ``hbase-client``
  ``2.6.4-hadoop3`` resolve with every dependency; ``2.6.5-hadoop3`` (the previous default) does
  not (``hbase-shaded-protobuf:4.1.13`` and the 2.6.5 modules are missing); no ``hbase-shell``
  of any 2.6.x; ``hbase-assembly`` (the tarball's dependency list) not at all. The tarball's
  ``bin/``, ``conf/`` and ``hbase-webapps/`` are on the Apache download site only.
* Pinpoint: nothing of 3.1.0 (every pom answers 404); ``pinpoint-web-3.0.1-exec.jar`` (the
  plain web, published before v3.0.5 added ``spring-boot.repackage.skip`` to the
  ``maven.central.release`` profile) and ``pinpoint-agent-3.0.1.tar.gz``; no
  ``pinpoint-collector`` of any 3.x version and no ``*-starter`` jar.

So the tests assemble ``hbase-2.6.4-hadoop3-bin.tar.gz`` in the release tarball's layout from the
real jars (``lib/``, ``lib/client-facing-thirdparty/``, ``lib/shaded-clients/`` — the sorting
rules of hbase-assembly's hadoop-three-compat.xml, branch-2.6), with an empty
``hbase-webapps/{master,regionserver,static}`` (the info server needs the directories, /jmx
needs no page in them) and small placeholders where the release has more that the image must
leave out (``bin/``, ``conf/``, ``docs/``, ``lib/ruby/``, ``lib/trace/``). Every image test runs
this real HBase; the real-component tier (tests/real) adds the real web and agent of 3.0.1 and
keeps the stand-in collector (tests/integration/standins/pinpoint) for the collector's jar.

Downloads go through ``mvn`` (checksums verified by Maven, cached in ~/.m2); the assembled
files are cached under ``PINPOINT_REAL_CACHE`` (default ~/.cache/pinpoint-on-fargate/real).
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

HBASE_VERSION = "2.6.4"
HBASE_MAVEN_VERSION = f"{HBASE_VERSION}-hadoop3"
# hbase-logging 2.6.4-hadoop3's pom: log4j2 2.17.2 and slf4j 1.7.33 (provided there; the
# assembly adds them, hbase-assembly/pom.xml).
LOG4J2_VERSION = "2.17.2"
SLF4J_VERSION = "1.7.33"
PINPOINT_VERSION = "3.0.1"

HBASE_MODULES = ("hbase-server", "hbase-zookeeper", "hbase-client")
LOGGING = (
    f"org.apache.logging.log4j:log4j-api:{LOG4J2_VERSION}",
    f"org.apache.logging.log4j:log4j-core:{LOG4J2_VERSION}",
    f"org.apache.logging.log4j:log4j-slf4j-impl:{LOG4J2_VERSION}",
    f"org.apache.logging.log4j:log4j-1.2-api:{LOG4J2_VERSION}",
    f"org.slf4j:jul-to-slf4j:{SLF4J_VERSION}",
    f"org.slf4j:jcl-over-slf4j:{SLF4J_VERSION}",
    f"org.slf4j:slf4j-api:{SLF4J_VERSION}",
)
# hadoop-three-compat.xml: what goes to lib/client-facing-thirdparty instead of lib/.
CLIENT_FACING = (
    "com.github.stephenc.findbugs:findbugs-annotations",
    "commons-logging:commons-logging",
    "org.apache.htrace:htrace-core4",
    "org.apache.htrace:htrace-core",
    "org.apache.yetus:audience-annotations",
    "org.slf4j:*",
    "org.apache.logging.log4j:*",
    "io.opentelemetry:*",
    "io.opentelemetry.semconv:*",
)
# The root pom's enforcer bans these logging frameworks (branch-2.6 pom.xml "We do not allow
# other logging frameworks as now we use log4j2"); the hadoop3 poms on Central still name some.
BANNED = (
    "log4j:*",
    "org.slf4j:slf4j-log4j12",
    "ch.qos.reload4j:*",
    "org.slf4j:slf4j-reload4j",
    "ch.qos.logback:*",
)


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "pinpoint-on-fargate" / "real"
    path = Path(os.environ.get("PINPOINT_REAL_CACHE", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


class MavenError(RuntimeError):
    pass


def mvn(*args: str, cwd: Path) -> None:
    command = ["mvn", "-B", "-q", "-Dmaven.repo.local=" + str(Path.home() / ".m2" / "repository"), *args]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=1800, check=False)
    if result.returncode != 0:
        errors = [line for line in result.stdout.splitlines() if "ERROR" in line][:3]
        raise MavenError(f"{' '.join(command[:4])} ... failed: {' | '.join(errors) or result.stderr[-300:]}")


def _pom(dependencies: list[str]) -> str:
    entries = []
    for coordinate in dependencies:
        group, artifact, version = coordinate.split(":")
        entries.append(
            f"<dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
            f"<version>{version}</version></dependency>"
        )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>local.realtier</groupId><artifactId>resolve</artifactId><version>1</version>"
        f"<packaging>pom</packaging><dependencies>{''.join(entries)}</dependencies></project>"
    )


@dataclass(frozen=True)
class Jar:
    group: str
    artifact: str
    path: Path

    def matches(self, patterns: tuple[str, ...]) -> bool:
        return any(fnmatch.fnmatchcase(f"{self.group}:{self.artifact}", p) for p in patterns)


def resolve(dependencies: list[str], workdir: Path) -> list[Jar]:
    """Every runtime jar of ``dependencies``, with its group (Maven's repository layout)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "pom.xml").write_text(_pom(dependencies))
    out = workdir / "jars"
    mvn(
        "dependency:copy-dependencies",
        f"-DoutputDirectory={out}",
        "-Dmdep.useRepositoryLayout=true",
        "-DincludeScope=runtime",
        cwd=workdir,
    )
    jars = []
    for path in sorted(out.rglob("*.jar")):
        version_dir = path.parent
        artifact = version_dir.parent.name
        group = str(version_dir.parent.parent.relative_to(out)).replace(os.sep, ".")
        jars.append(Jar(group, artifact, path))
    return jars


def _add_file(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


def _add_dir(archive: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    archive.addfile(info)


def hbase_tarball() -> Path:
    """``hbase-<v>-hadoop3-bin.tar.gz`` in the release tarball's layout, from the real jars."""
    target = cache_dir() / f"hbase-{HBASE_MAVEN_VERSION}-bin.tar.gz"
    if target.exists():
        return target
    with tempfile.TemporaryDirectory(prefix="real-hbase-") as scratch:
        work = Path(scratch)
        jars = resolve(
            [f"org.apache.hbase:{m}:{HBASE_MAVEN_VERSION}" for m in HBASE_MODULES] + list(LOGGING), work
        )
        shaded = resolve([f"org.apache.hbase:hbase-shaded-client:{HBASE_MAVEN_VERSION}"], work / "shaded")
        top = f"hbase-{HBASE_MAVEN_VERSION}"  # what the real tarball unpacks to
        partial = target.with_suffix(".partial")
        with tarfile.open(partial, "w:gz") as archive:
            _add_dir(archive, top)
            for directory in ("lib", "lib/client-facing-thirdparty", "lib/shaded-clients", "hbase-webapps"):
                _add_dir(archive, f"{top}/{directory}")
            for webapp in ("master", "regionserver", "static"):
                _add_dir(archive, f"{top}/hbase-webapps/{webapp}")
            seen: set[str] = set()
            for jar in jars:
                if jar.matches(BANNED) or jar.path.name in seen:
                    continue
                seen.add(jar.path.name)
                folder = "lib/client-facing-thirdparty" if jar.matches(CLIENT_FACING) else "lib"
                archive.add(jar.path, f"{top}/{folder}/{jar.path.name}")
            for jar in shaded:
                if jar.artifact == "hbase-shaded-client":
                    archive.add(jar.path, f"{top}/lib/shaded-clients/{jar.path.name}")
            # What the release has beside the jars and the image leaves out (each a placeholder).
            for left_out in (
                "bin/hbase",
                "conf/hbase-site.xml",
                "docs/book.html",
                "lib/ruby/README",
                "lib/trace/README",
            ):
                _add_file(archive, f"{top}/{left_out}", b"in the release tarball, not in the image\n")
            # The licences the image keeps (placeholders of the release's files).
            _add_file(archive, f"{top}/LICENSE.txt", b"Apache License, Version 2.0\n")
            _add_file(archive, f"{top}/NOTICE.txt", b"Apache HBase\n")
        partial.rename(target)
    return target


def maven_file(coordinate: str, file_name: str) -> Path:
    """One artifact (``group:artifact:version[:type[:classifier]]``) copied out of ~/.m2."""
    target = cache_dir() / file_name
    if target.exists():
        return target
    with tempfile.TemporaryDirectory(prefix="real-get-") as scratch:
        mvn(
            "dependency:copy",
            f"-Dartifact={coordinate}",
            f"-DoutputDirectory={scratch}",
            "-Dmdep.stripVersion=false",
            cwd=Path(scratch),
        )
        (found,) = [p for p in Path(scratch).iterdir() if p.is_file()]
        shutil.copyfile(found, target.with_suffix(".partial"))
        target.with_suffix(".partial").rename(target)
    return target


def pinpoint_web_jar() -> Path:
    return maven_file(
        f"com.navercorp.pinpoint:pinpoint-web:{PINPOINT_VERSION}:jar:exec",
        f"pinpoint-web-{PINPOINT_VERSION}-exec.jar",
    )


def pinpoint_agent_tarball() -> Path:
    return maven_file(
        f"com.navercorp.pinpoint:pinpoint-agent:{PINPOINT_VERSION}:tar.gz",
        f"pinpoint-agent-{PINPOINT_VERSION}.tar.gz",
    )


def sha512(path: Path) -> str:
    digest = hashlib.sha512()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hbase_lib(tarball: Path | None = None) -> Path:
    """The tarball's lib/ unpacked beside it (for compiling test probes against the same jars)."""
    tarball = tarball or hbase_tarball()
    target = cache_dir() / f"hbase-{HBASE_MAVEN_VERSION}-lib"
    if not target.exists():
        partial = target.with_suffix(".partial")
        shutil.rmtree(partial, ignore_errors=True)
        prefix = f"hbase-{HBASE_MAVEN_VERSION}/lib/"
        with tarfile.open(tarball) as archive:
            for member in archive.getmembers():
                if member.isfile() and member.name.startswith(prefix) and member.name.endswith(".jar"):
                    member.name = member.name[len(prefix) :]
                    archive.extract(member, partial, filter="data")
        partial.rename(target)
    return target


if __name__ == "__main__":  # python -m tests.maven_artifacts: fetch and assemble ahead of the tests
    for produced in (hbase_tarball(), pinpoint_web_jar(), pinpoint_agent_tarball()):
        print(f"{produced} {produced.stat().st_size // (1 << 20)} MiB")
