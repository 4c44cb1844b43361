"""The docker CLI that builds with BuildKit, as ``cdk deploy`` does.

The docker SDK speaks only the classic builder's API, and images/pinpoint needs BuildKit (its
fetch stages run on ``$BUILDPLATFORM``), so every build goes through a docker CLI:

* a CLI with the buildx plugin: from Docker 23 on, ``docker build`` *is* ``docker buildx build``
  and a CLI 23+ without buildx falls back to the classic builder (or refuses under
  ``DOCKER_BUILDKIT=1``);
* a CLI before 23 (Debian 12's ``docker.io`` 20.10 at /usr/bin/docker) under ``DOCKER_BUILDKIT=1``:
  its built-in BuildKit client drives the engine's BuildKit, no plugin needed.

``CDK_DOCKER`` names the CLI when set: it is what ``cdk deploy`` runs (``getDockerCmd`` in
cdk-assets-lib ``lib/private/docker.ts``: ``process.env.CDK_DOCKER ?? "docker"``), so our builds and
the deploy's use the same one. Otherwise the first capable ``docker`` on ``PATH`` wins, then
/usr/bin/docker (where Debian's package puts it, often shadowed by a /usr/local/bin/docker).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from scripts.ops.errors import ScriptError

CDK_DOCKER = "CDK_DOCKER"
DEBIAN_DOCKER = Path("/usr/bin/docker")
# The first CLI whose `docker build` needs buildx for BuildKit (docker/cli 23.0 release notes).
BUILDX_REQUIRED_FROM = 23
PROBE_TIMEOUT = 15.0
# The variables a build and `cdk deploy` run with: BuildKit on for CLIs before 23 (harmless
# after), and no provenance attestations (cdk-assets sets the same: they confuse its pushes).
BUILD_ENVIRONMENT = {"DOCKER_BUILDKIT": "1", "BUILDX_NO_DEFAULT_ATTESTATIONS": "1"}
INSTALL_HINT = (
    "install the buildx plugin (Docker's docker-buildx-plugin package, or Docker Desktop), or use a "
    "docker CLI before 23 such as Debian 12's docker.io (/usr/bin/docker); CDK_DOCKER names the one to use"
)

Runner = Callable[[list[str]], "subprocess.CompletedProcess[str]"]


@dataclass(frozen=True)
class DockerCli:
    """A docker CLI and how it builds with BuildKit."""

    path: str
    version: str
    buildx: bool  # BuildKit through the buildx plugin; else the CLI's own client (before 23)

    def environment(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) plus what a BuildKit build needs."""
        return {**(os.environ if base is None else base), **BUILD_ENVIRONMENT}

    def __str__(self) -> str:
        how = "buildx" if self.buildx else "DOCKER_BUILDKIT=1"
        return f"{self.path} {self.version} ({how})"


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT,
        check=False,
        env=os.environ | {"LC_ALL": "C"},
    )


def candidates(environ: Mapping[str, str]) -> list[str]:
    """Executables to try, in order, each once (by real path)."""
    if environ.get(CDK_DOCKER):
        found = shutil.which(environ[CDK_DOCKER], path=environ.get("PATH"))
        return [found or environ[CDK_DOCKER]]
    paths = [
        str(Path(directory) / "docker")
        for directory in environ.get("PATH", "").split(os.pathsep)
        if directory
    ]
    paths.append(str(DEBIAN_DOCKER))
    seen: set[str] = set()
    result = []
    for path in paths:
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            continue
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            result.append(path)
    return result


def inspect(path: str, run: Runner = _run) -> DockerCli | str:
    """The CLI at ``path`` if it builds with BuildKit, else why not (a phrase)."""
    try:
        version = run([path, "--version"])
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{path} does not run ({error.__class__.__name__}: {error})"
    match = re.search(r"Docker version (\d+)\.(\d+)\S*", version.stdout)
    if version.returncode != 0 or match is None:
        text = " ".join((version.stdout or version.stderr).split())[:80]
        return f"{path} is not a docker CLI ({text or 'no version'})"
    number = match.group(0).removeprefix("Docker version ").rstrip(",")
    try:
        buildx = run([path, "buildx", "version"]).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        buildx = False
    if buildx or int(match.group(1)) < BUILDX_REQUIRED_FROM:
        return DockerCli(path=path, version=number, buildx=buildx)
    return f"{path} {number} needs the buildx plugin for BuildKit, which is missing"


def find_buildkit_cli(environ: Mapping[str, str] | None = None, *, run: Runner = _run) -> DockerCli:
    """The docker CLI builds run with, or ``ScriptError`` saying in one line why there is none."""
    environ = os.environ if environ is None else environ
    reasons = []
    for path in candidates(environ):
        found = inspect(path, run)
        if isinstance(found, DockerCli):
            return found
        reasons.append(found)
    if environ.get(CDK_DOCKER):
        where = f"CDK_DOCKER={environ[CDK_DOCKER]}: " + ("; ".join(reasons) or "not found")
    else:
        where = "; ".join(reasons) or f"no docker on PATH nor at {DEBIAN_DOCKER}"
    raise ScriptError(f"no docker CLI here builds with BuildKit ({where}): {INSTALL_HINT}")
