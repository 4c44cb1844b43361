"""BuildKit builds through the docker CLI (scripts/ops/build.py, scripts/ops/docker_cli.py,
scripts/with_buildkit.py): which CLI, which command line, and the one line a failure becomes.

The CLIs here are small shell scripts answering ``--version`` and ``buildx version`` as the real
ones do (a CLI 28 without buildx is what /usr/local/bin/docker is on the development machine);
tests/integration builds with the real CLI and engine.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.ops.build import BuildSpec, build_failure, build_image
from scripts.ops.docker_cli import DockerCli, candidates, find_buildkit_cli, inspect
from scripts.ops.engine import Platform
from scripts.ops.errors import ScriptError
from scripts.ops.output import Reporter, running_in_ci

REPO_ROOT = Path(__file__).resolve().parents[2]


def fake_docker(directory: Path, version: str, *, buildx: bool, name: str = "docker") -> Path:
    """A `docker` answering ``--version`` with ``version`` and ``buildx version`` as asked."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    buildx_answer = (
        "echo 'github.com/docker/buildx v0.24.0'" if buildx else "echo 'docker: unknown command' >&2; exit 1"
    )
    path.write_text(
        "#!/bin/sh\n"
        f'case "$1" in\n  --version) echo "{version}" ;;\n  buildx) {buildx_answer} ;;\n  *) exit 1 ;;\nesac\n'
    )
    path.chmod(0o755)
    return path


# --------------------------------------------------------------------------------------------
# Which CLI
# --------------------------------------------------------------------------------------------


def test_a_cli_before_23_builds_with_buildkit_without_the_plugin(tmp_path: Path) -> None:
    cli = inspect(str(fake_docker(tmp_path, "Docker version 20.10.24+dfsg1, build 297e128", buildx=False)))
    assert cli == DockerCli(path=str(tmp_path / "docker"), version="20.10.24+dfsg1", buildx=False)
    assert str(cli) == f"{tmp_path}/docker 20.10.24+dfsg1 (DOCKER_BUILDKIT=1)"


def test_a_cli_from_23_on_needs_buildx(tmp_path: Path) -> None:
    without = fake_docker(tmp_path / "a", "Docker version 28.2.2, build e6534b4", buildx=False)
    assert inspect(str(without)) == f"{without} 28.2.2 needs the buildx plugin for BuildKit, which is missing"
    with_plugin = fake_docker(tmp_path / "b", "Docker version 28.2.2, build e6534b4", buildx=True)
    assert inspect(str(with_plugin)) == DockerCli(path=str(with_plugin), version="28.2.2", buildx=True)


def test_something_else_is_not_a_docker_cli(tmp_path: Path) -> None:
    podman = fake_docker(tmp_path, "podman version 4.3.1", buildx=False)
    assert inspect(str(podman)) == f"{podman} is not a docker CLI (podman version 4.3.1)"
    assert inspect(str(tmp_path / "missing")).startswith(
        f"{tmp_path}/missing does not run (FileNotFoundError"
    )


def test_the_first_capable_cli_on_path_wins_over_an_incapable_one(tmp_path: Path) -> None:
    """/usr/local/bin/docker 28 without buildx first on PATH, Debian's 20.10 after it: the latter."""
    local = fake_docker(tmp_path / "local", "Docker version 28.2.2, build e6534b4", buildx=False)
    debian = fake_docker(tmp_path / "debian", "Docker version 20.10.24+dfsg1, build 297e128", buildx=False)
    environ = {"PATH": f"{local.parent}{os.pathsep}{debian.parent}"}
    assert find_buildkit_cli(environ).path == str(debian)


def test_the_same_cli_twice_on_path_is_tried_once(tmp_path: Path) -> None:
    real = fake_docker(tmp_path / "usr-bin", "Docker version 28.2.2, build e6534b4", buildx=False)
    (tmp_path / "bin").symlink_to(real.parent)  # merged /usr: /bin/docker is /usr/bin/docker
    paths = candidates({"PATH": f"{real.parent}{os.pathsep}{tmp_path / 'bin'}"})
    assert paths.count(str(real)) == 1
    assert str(tmp_path / "bin" / "docker") not in paths


def test_cdk_docker_names_the_only_candidate(tmp_path: Path) -> None:
    chosen = fake_docker(tmp_path / "chosen", "Docker version 28.2.2, build e6534b4", buildx=False)
    other = fake_docker(tmp_path / "other", "Docker version 20.10.24, build x", buildx=False)
    environ = {"PATH": str(other.parent), "CDK_DOCKER": str(chosen)}
    assert candidates(environ) == [str(chosen)]
    with pytest.raises(ScriptError) as error:
        find_buildkit_cli(environ)
    assert str(error.value) == (
        f"no docker CLI here builds with BuildKit (CDK_DOCKER={chosen}: {chosen} 28.2.2 needs the buildx "
        "plugin for BuildKit, which is missing): install the buildx plugin (Docker's docker-buildx-plugin "
        "package, or Docker Desktop), or use a docker CLI before 23 such as Debian 12's docker.io "
        "(/usr/bin/docker); CDK_DOCKER names the one to use"
    )


def test_cdk_docker_is_looked_up_on_path(tmp_path: Path) -> None:
    cli = fake_docker(tmp_path, "Docker version 27.5.1, build 9f9e405", buildx=True, name="docker-ce")
    assert find_buildkit_cli({"PATH": str(tmp_path), "CDK_DOCKER": "docker-ce"}).path == str(cli)


# --------------------------------------------------------------------------------------------
# The command line (as cdk-assets runs `docker build`, plus what our callers need)
# --------------------------------------------------------------------------------------------


def test_the_build_command_carries_platform_args_network_and_cache(tmp_path: Path) -> None:
    spec = BuildSpec(
        context=tmp_path,
        platform=Platform.parse("linux/arm64"),
        tag="repo:v1",
        build_args={"HBASE_SHA512": "ab" * 64, "EMPTY": ""},
        network="host",
        no_cache=True,
    )
    cli = DockerCli(path="/usr/bin/docker", version="20.10.24", buildx=False)
    argv = spec.command(cli, progress="plain", iidfile=tmp_path / "iid")
    assert argv == [
        "/usr/bin/docker", "build", "--progress", "plain", "--platform", "linux/arm64",
        "--tag", "repo:v1", "--iidfile", f"{tmp_path}/iid", "--file", f"{tmp_path}/Dockerfile",
        "--build-arg", f"HBASE_SHA512={'ab' * 64}", "--build-arg", "EMPTY=",
        "--network", "host", "--no-cache", str(tmp_path),
    ]  # fmt: skip
    assert cli.environment({})["DOCKER_BUILDKIT"] == "1"


def test_with_buildx_the_image_is_loaded_into_the_engine(tmp_path: Path) -> None:
    spec = BuildSpec(context=tmp_path, platform=Platform.parse("linux/amd64"), tag="t:1")
    argv = spec.command(
        DockerCli("/usr/bin/docker", "28.2.2", buildx=True), progress="tty", iidfile=tmp_path / "i"
    )
    assert "--load" in argv
    assert "--network" not in argv
    assert "--no-cache" not in argv


# --------------------------------------------------------------------------------------------
# A failure in one line
# --------------------------------------------------------------------------------------------

# Plain progress of Debian's docker.io 20.10 CLI (DOCKER_BUILDKIT=1) building images/pinpoint
# without HBASE_SHA512, captured on the development machine (digest lines left out): the sibling
# fetch stage is CANCELED, the failed one carries the fail-closed message.
LEGACY_CLI_FAILURE = (Path(__file__).with_name("build_logs") / "cli-20.10-missing-checksum.txt").read_text()

# The same failure in buildx's plain format (written after docker/buildx's progress printer:
# there is no buildx on the development machine to capture one): output lines repeated in the
# summary block, then "ERROR: failed to solve:"; and a sibling reported as cancelled with an error.
BUILDX_FAILURE = """\
#10 [fetch-pinpoint 1/1] RUN : "${PINPOINT_COLLECTOR_SHA512:?set build arg PINPOINT_COLLECTOR_SHA512 to ...}"
#10 ERROR: context canceled
#8 [fetch-hbase 1/1] RUN : "${HBASE_SHA512:?set build arg HBASE_SHA512 to the SHA-512 of hbase-${HBASE_VERSION}-hadoop3-bin.tar.gz}"
#8 0.239 /bin/bash: line 1: HBASE_SHA512: set build arg HBASE_SHA512 to the SHA-512 of hbase-2.6.5-hadoop3-bin.tar.gz
#8 ERROR: process "/bin/bash -o pipefail -c : ..." did not complete successfully: exit code: 1
------
 > [fetch-hbase 1/1] RUN : "${HBASE_SHA512:?set build arg HBASE_SHA512 to the SHA-512 of hbase-${HBASE_VERSION}-hadoop3-bin.tar.gz}":
0.239 /bin/bash: line 1: HBASE_SHA512: set build arg HBASE_SHA512 to the SHA-512 of hbase-2.6.5-hadoop3-bin.tar.gz
------
Dockerfile:58
ERROR: failed to solve: process "/bin/bash -o pipefail -c : ..." did not complete successfully: exit code: 1
"""


@pytest.mark.parametrize("log", [LEGACY_CLI_FAILURE, BUILDX_FAILURE], ids=["cli-20.10", "buildx"])
def test_a_failed_step_is_named_with_its_last_output_line(log: str) -> None:
    assert build_failure(log.splitlines()) == (
        '[fetch-hbase 1/1] RUN : "${HBASE_SHA512:?set build arg HBASE_SHA512 to the SHA-...: '
        "/bin/bash: line 1: HBASE_SHA512: set build arg HBASE_SHA512 to the SHA-512 of hbase-2.6.5-hadoop3-bin.tar.gz"
    )


def test_a_step_without_output_gives_its_own_error() -> None:
    log = [
        "#6 [stage-1 2/2] COPY missing /missing",
        '#6 ERROR: failed to compute cache key: "/missing" not found: not found',
    ]
    assert (
        build_failure(log)
        == '[stage-1 2/2] COPY missing /missing: failed to compute cache key: "/missing" not found: not found'
    )


def test_without_a_failed_step_the_closing_error_line_is_used() -> None:
    log = [
        "#1 [internal] load build definition from Dockerfile",
        "#1 DONE 0.0s",
        "failed to solve with frontend dockerfile.v0: failed to create LLB definition: dockerfile parse error",
        "error: failed to solve: pull access denied for local/nothing",
    ]
    assert build_failure(log) == "pull access denied for local/nothing"
    assert build_failure(log[:3]) == log[2]
    assert build_failure([]) == "docker build failed without output"


# --------------------------------------------------------------------------------------------
# Progress for people, plain lines in CI
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ci"), [("true", True), ("1", True), ("yes", True), ("", False), ("false", False)]
)
def test_ci_means_plain_lines(value: str, ci: bool) -> None:
    assert running_in_ci({"CI": value}) is ci


def test_a_reporter_on_a_pipe_is_plain() -> None:
    assert Reporter(stream=io.StringIO()).interactive is False


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_ci_true_is_plain_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert Reporter(stream=Terminal()).interactive is True
    monkeypatch.setenv("CI", "true")
    assert Reporter(stream=Terminal()).interactive is False


def recording_docker(directory: Path, *, fail: bool = False) -> DockerCli:
    """A `docker build` that records its arguments, prints a plain BuildKit line, writes --iidfile."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "docker"
    path.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > "{directory}/argv"; echo "$DOCKER_HOST" > "{directory}/docker-host"\n'
        'echo "#1 [internal] load build definition from Dockerfile"\n'
        + ('echo "#2 [1/1] RUN false"; echo "#2 ERROR: exit code: 1"; exit 1\n' if fail else "")
        + 'while [ "$#" -gt 0 ]; do [ "$1" = --iidfile ] && echo sha256:feed > "$2"; shift; done\n'
    )
    path.chmod(0o755)
    return DockerCli(path=str(path), version="20.10.24", buildx=False)


def test_people_get_buildkits_display_ci_gets_plain_lines(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    spec = BuildSpec(context=tmp_path, platform=Platform.parse("linux/arm64"), tag="t:1")
    plain = io.StringIO()
    cli = recording_docker(tmp_path / "plain")
    assert build_image(spec, Reporter(stream=plain, interactive=False), cli=cli) == "sha256:feed"
    assert "--progress\nplain\n" in (tmp_path / "plain" / "argv").read_text()
    assert "#1 [internal] load build definition from Dockerfile" in plain.getvalue()  # through the reporter
    # The engine the SDK uses, whatever context the CLI has selected.
    expected_host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    assert (tmp_path / "plain" / "docker-host").read_text().strip() == expected_host

    cli = recording_docker(tmp_path / "tty")
    assert build_image(spec, Reporter(stream=io.StringIO(), interactive=True), cli=cli) == "sha256:feed"
    assert "--progress\ntty\n" in (tmp_path / "tty" / "argv").read_text()


def test_a_failed_build_is_one_line_in_both_modes(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    spec = BuildSpec(context=tmp_path, platform=Platform.parse("linux/arm64"), tag="t:1")
    cli = recording_docker(tmp_path / "cli", fail=True)
    with pytest.raises(ScriptError, match=r"^build failed: \[1/1\] RUN false: exit code: 1$"):
        build_image(spec, Reporter(stream=io.StringIO(), interactive=False), cli=cli)
    with pytest.raises(
        ScriptError, match=r"^build failed \(docker build exit status 1\): the failed step is shown above$"
    ):
        build_image(spec, Reporter(stream=io.StringIO(), interactive=True), cli=cli)
    with pytest.raises(ScriptError, match="no Dockerfile in build context"):
        build_image(
            BuildSpec(context=tmp_path / "cli", platform=spec.platform, tag="t:1"), Reporter(), cli=cli
        )


# --------------------------------------------------------------------------------------------
# make deploy's cdk deploy runs with the CLI found
# --------------------------------------------------------------------------------------------


def with_buildkit(environ: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "with_buildkit.py"), *command],
        env=environ,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_make_deploy_hands_cdk_deploy_the_buildkit_cli(tmp_path: Path) -> None:
    local = fake_docker(tmp_path / "local", "Docker version 28.2.2, build e6534b4", buildx=False)
    debian = fake_docker(tmp_path / "debian", "Docker version 20.10.24+dfsg1, build 297e128", buildx=False)
    path = f"{local.parent}{os.pathsep}{debian.parent}{os.pathsep}/usr/bin{os.pathsep}/bin"
    result = with_buildkit({"PATH": path, "DOCKER_BUILDKIT": "0"}, "env")
    assert result.returncode == 0, result.stderr
    environment = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert environment["CDK_DOCKER"] == str(debian)
    assert environment["DOCKER_BUILDKIT"] == "1"
    assert result.stderr.startswith(f"with-buildkit: CDK_DOCKER={debian} DOCKER_BUILDKIT=1")


def test_without_a_buildkit_cli_the_command_runs_unchanged(tmp_path: Path) -> None:
    cli = fake_docker(tmp_path, "Docker version 28.2.2, build e6534b4", buildx=False)
    result = with_buildkit({"PATH": f"/usr/bin{os.pathsep}/bin", "CDK_DOCKER": str(cli)}, "env")
    assert result.returncode == 0, result.stderr
    assert f"CDK_DOCKER={cli}" in result.stdout.splitlines()
    assert "DOCKER_BUILDKIT=1" not in result.stdout.splitlines()
    assert "no docker CLI here builds with BuildKit" in result.stderr
    assert "(running env unchanged)" in result.stderr
