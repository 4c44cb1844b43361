"""Image builds with BuildKit through the docker CLI, and the build args a Dockerfile declares.

Builds run ``docker build`` as ``cdk deploy`` does (the CLI :mod:`scripts.ops.docker_cli`
finds, ``DOCKER_BUILDKIT=1``): the docker SDK can only drive the classic builder, which cannot
build images/pinpoint. The image ID comes from ``--iidfile``; a failure is one line.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from scripts.ops.docker_cli import DockerCli, find_buildkit_cli
from scripts.ops.engine import DEFAULT_DOCKER_HOST, Platform
from scripts.ops.errors import EXIT_USAGE, ScriptError, one_line
from scripts.ops.output import Reporter
from stacks.config import BUILD_ARG_NAME


def parse_build_arg(text: str) -> tuple[str, str]:
    """argparse type of ``--build-arg NAME=VALUE`` (NAME as a Dockerfile ARG name)."""
    name, separator, value = text.partition("=")
    if not separator or not BUILD_ARG_NAME.fullmatch(name):
        raise argparse.ArgumentTypeError(f"invalid build arg {text!r}: expected NAME=VALUE")
    return name, value


@dataclass(frozen=True)
class BuildSpec:
    """One image build: what ``docker build`` gets, the way ``cdk deploy`` runs it."""

    context: Path
    platform: Platform
    tag: str
    dockerfile: str = "Dockerfile"
    build_args: Mapping[str, str] = field(default_factory=dict)
    # The network of the RUN steps, e.g. ``host`` for a download mirror on this machine's loopback.
    network: str | None = None
    no_cache: bool = False

    def command(self, cli: DockerCli, *, progress: str, iidfile: Path) -> list[str]:
        argv = [cli.path, "build", "--progress", progress, "--platform", str(self.platform)]
        argv += ["--tag", self.tag, "--iidfile", str(iidfile), "--file", str(self.context / self.dockerfile)]
        for name, value in self.build_args.items():
            argv += ["--build-arg", f"{name}={value}"]
        if self.network:
            argv += ["--network", self.network]
        if self.no_cache:
            argv.append("--no-cache")
        if cli.buildx:
            argv.append("--load")  # into the engine's image store, whichever buildx builder is selected
        return [*argv, str(self.context)]


def build_image(spec: BuildSpec, out: Reporter, *, cli: DockerCli | None = None) -> str:
    """Build ``spec`` with BuildKit through the docker CLI, tag it, return the image ID.

    For people (a terminal, not CI) BuildKit draws its own progress; elsewhere every line is
    plain (``--progress=plain``) and goes through ``out``, and a failure becomes one line naming
    the failed step and its last output line.
    """
    if not (spec.context / spec.dockerfile).is_file():
        raise ScriptError(f"no {spec.dockerfile} in build context {spec.context}", exit_code=EXIT_USAGE)
    cli = cli or find_buildkit_cli()
    # The engine the SDK checks and pushes from (DOCKER_HOST, else the default socket), not the
    # CLI's current context, which may name another one.
    env = cli.environment()
    env.setdefault("DOCKER_HOST", DEFAULT_DOCKER_HOST)
    with tempfile.TemporaryDirectory(prefix="pinpoint-build-") as scratch:
        iidfile = Path(scratch) / "image-id"
        if out.interactive:
            # Its stdout too goes to our stderr: stdout stays for results.
            argv = spec.command(cli, progress="tty", iidfile=iidfile)
            code = subprocess.run(argv, env=env, stdout=sys.stderr, check=False).returncode
            if code != 0:
                raise ScriptError(
                    f"build failed (docker build exit status {code}): the failed step is shown above"
                )
        else:
            argv = spec.command(cli, progress="plain", iidfile=iidfile)
            log = _run_plain(argv, env, out)
            if log.code != 0:
                raise ScriptError(f"build failed: {build_failure(log.lines)}")
        image_id = iidfile.read_text().strip() if iidfile.exists() else ""
    if not image_id:
        raise ScriptError("build failed: docker build reported no image ID")
    return image_id


@dataclass(frozen=True)
class _Log:
    code: int
    lines: list[str]


def _run_plain(argv: list[str], env: Mapping[str, str], out: Reporter) -> _Log:
    lines: list[str] = []
    with subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as process:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.rstrip("\n")
            lines.append(line)
            out.note(line)
        code = process.wait()
    return _Log(code, lines)


# BuildKit's plain progress: "#7 [stage 2/3] RUN ...", "#7 0.254 output", "#7 ERROR: reason".
_STEP = re.compile(r"^#(\d+) (\[[^\]]+\] .*)$")
_OUTPUT = re.compile(r"^#(\d+) \d+\.\d+ (.*)$")
_STEP_ERROR = re.compile(r"^#(\d+) ERROR: (.*)$")
_FINAL_ERROR = re.compile(r"^(?:ERROR|error): (?:failed to solve: )?(.*)$")


def build_failure(lines: list[str]) -> str:
    """Why a BuildKit build failed, in one line, from its plain progress output.

    The failed step (``[stage n/m] INSTRUCTION``, its arguments shortened) with its last output
    line (e.g. the ``${VAR:?message}`` of a missing checksum), else the step's own error, else
    the CLI's closing error line.
    """
    steps: dict[str, str] = {}
    output: dict[str, list[str]] = {}
    failed: list[tuple[str, str]] = []
    for line in lines:
        if match := _STEP_ERROR.match(line):
            failed.append((match.group(1), match.group(2)))
        elif match := _STEP.match(line):
            steps.setdefault(match.group(1), match.group(2))
        elif (match := _OUTPUT.match(line)) and match.group(2).strip():
            output.setdefault(match.group(1), []).append(match.group(2).strip())
    # Steps running beside the failed one are cancelled with it: not the cause.
    causes = [item for item in failed if "canceled" not in item[1]] or failed
    if causes:
        vertex, reason = causes[0]
        step = _short_step(steps.get(vertex, f"step #{vertex}"))
        said = output.get(vertex)
        return one_line(f"{step}: {said[-1] if said else reason}")
    for line in reversed(lines):
        if match := _FINAL_ERROR.match(line.strip()):
            return one_line(match.group(1))
    last = next((line for line in reversed(lines) if line.strip()), "")
    return one_line(last or "docker build failed without output")


def _short_step(step: str, limit: int = 60) -> str:
    """``[fetch-hbase 1/1] RUN : "${HBASE_SHA...`` -> at most ``limit`` characters of arguments."""
    head, _, rest = step.partition("] ")
    instruction, _, arguments = rest.partition(" ")
    if len(arguments) > limit:
        arguments = arguments[: limit - 3] + "..."
    return f"{head}] {instruction} {arguments}".rstrip()


_EMPTY_CHECKSUM_ARG = re.compile(r"^ARG (\w+_SHA512)=\s*$", re.MULTILINE)


def required_checksum_args(dockerfile: Path) -> list[str]:
    """``*_SHA512`` build args a Dockerfile declares without a default.

    Such a build fails closed half-way through (after the base image and downloads); checking
    up front turns that into one line before anything is built or created.
    """
    return _EMPTY_CHECKSUM_ARG.findall(dockerfile.read_text())


def check_checksum_args(dockerfile: Path, build_args: Mapping[str, str]) -> None:
    missing = [name for name in required_checksum_args(dockerfile) if not build_args.get(name)]
    if missing:
        raise ScriptError(
            f"{dockerfile} needs build args {', '.join(missing)} (the SHA-512 of each download): "
            'run `make pin-checksums ARGS="--config ENV"` and pass --config ENV, or pass --build-arg NAME=SHA512',
            exit_code=EXIT_USAGE,
        )


def dockerfile_defaults(dockerfile: Path) -> dict[str, str]:
    """``ARG NAME=value`` defaults; the first wins (the fetch stage, which downloads the jars)."""
    defaults: dict[str, str] = {}
    for name, value in re.findall(r"^ARG (\w+)=(\S*)\s*$", dockerfile.read_text(), flags=re.MULTILINE):
        defaults.setdefault(name, value)
    return defaults
