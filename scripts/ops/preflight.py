"""The checks and first-run steps before ``make deploy|diff|destroy|bootstrap`` calls the CDK CLI.

Every check runs and every problem is reported at once, one line each, before anything is
changed: the settings (the schema ``cdk synth`` uses), the AWS region and credentials (named
apart: no region, no credentials, unreachable STS, rejected credentials), the CDK bootstrap,
the Docker engine, its emulation of the task's architecture and a docker CLI that builds with
BuildKit (deploys that build the image), the downloads the deploy verifies (a version that does
not exist, checksums not pinned in strict mode), and with ``hbase_mode=emr`` what EMR needs
(scripts/ops/emr_prerequisites.py: the release and instance types, an imported VPC's DNS and ways
out). Only when nothing is wrong does a deploy take its first-run steps:

* bootstrap the account/region with the pinned CDK CLI when needed (``auto_bootstrap``);
* pin the SHA-512 of each download not pinned yet (trust on first download where nothing is
  published, verified where a checksum is) into the settings file the deploy reads.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from scripts.ops.aws import AwsIdentity, check_aws
from scripts.ops.bootstrap import (
    CDK_CLI,
    MIN_BOOTSTRAP_VERSION,
    bootstrap_needed,
    bootstrap_version,
    environment,
    not_bootstrapped,
    run_cdk_bootstrap,
)
from scripts.ops.docker_cli import find_buildkit_cli
from scripts.ops.emr_prerequisites import check_emr
from scripts.ops.engine import Platform, check_platform_runnable, docker_client
from scripts.ops.errors import EXIT_FAILURE, EXIT_USAGE, ScriptError, error_line
from scripts.ops.output import Reporter
from scripts.ops.pinning import (
    Artifact,
    Pinned,
    artifacts,
    merged_settings,
    pin,
    probe_all,
    probe_problem,
    report_lines,
)
from scripts.ops.settings import (
    cdk_profile,
    config_error,
    config_with_file,
    context_overrides,
    read_settings_file,
    settings_path,
    write_settings,
)
from stacks.config import CONFIG_DIR, REPO_ROOT, ConfigError, PlatformConfig, load_config

ACTIONS = ("deploy", "diff", "destroy", "bootstrap")
PINPOINT_DOCKERFILE = REPO_ROOT / "images" / "pinpoint" / "Dockerfile"
PLATFORMS = {"ARM64": "linux/arm64", "X86_64": "linux/amd64"}


@dataclass(frozen=True)
class Request:
    action: str
    cdk_args: list[str]
    config_dir: Path = CONFIG_DIR
    dockerfile: Path = PINPOINT_DOCKERFILE
    cdk: Path = CDK_CLI


@dataclass
class Findings:
    """Problems (one line each, with the exit code each deserves) and the steps still to take."""

    problems: list[tuple[str, int]] = field(default_factory=list)
    session: Any = None  # the boto3 session the checks used
    bootstrap: AwsIdentity | None = None
    to_pin: list[Artifact] = field(default_factory=list)

    def add(self, text: str, exit_code: int = EXIT_FAILURE) -> None:
        self.problems.append((text, exit_code))

    @property
    def exit_code(self) -> int:
        """2 when any problem is in the settings (fix those first), else 1."""
        return EXIT_USAGE if any(code == EXIT_USAGE for _, code in self.problems) else EXIT_FAILURE


def say(text: str) -> None:
    print(f"preflight: {text}", flush=True)


def check(request: Request, out: Reporter) -> tuple[Findings, PlatformConfig | None]:
    """Run every check; nothing is changed."""
    findings = Findings()
    overrides = context_overrides(request.cdk_args)
    config: PlatformConfig | None = None
    try:
        config = load_config(overrides, config_dir=request.config_dir)
    except ConfigError as error:
        for line in str(error).splitlines():
            findings.add(line, EXIT_USAGE)

    if config is not None and request.action in ("deploy", "diff"):
        say(f"topology {topology(config)}")

    aws = check_aws(profile=cdk_profile(request.cdk_args), region=config.region if config else None)
    for problem in aws.problems:
        findings.add(problem)
    findings.session = aws.session
    if aws.ready and aws.identity is not None:
        identity = aws.identity
        say(f"AWS account {identity.account} in {identity.region} as {identity.arn}")
        if request.action == "bootstrap":
            findings.bootstrap = identity
        elif request.action in ("deploy", "diff"):
            _check_bootstrap(findings, aws.session, identity, request.action, config)
            if config is not None and config.hbase_mode == "emr":
                emr = check_emr(aws.session, config, identity.region)
                for problem in emr.problems:
                    findings.add(problem)
                for warning in emr.warnings:
                    out.warn(warning)
                if not emr.problems:
                    say(
                        f"EMR offers {config.emr_release_label} with {config.emr_primary_instance_type} and "
                        f"{config.emr_core_instance_type} in {identity.region}"
                    )

    if request.action == "deploy" and config is not None:
        if config.image_source == "asset":
            _check_engine(findings, config)
        _check_downloads(findings, request, config, out)
    return findings, config


def topology(config: PlatformConfig) -> str:
    """One line naming what ``hbase_mode`` deploys, with the sizes that matter."""
    scaled = (
        f"{config.collector_min_count}-{config.collector_max_count} collectors "
        f"({config.collector_cpu / 1024:g} vCPU / {config.collector_memory_mib / 1024:g} GiB, autoscaled on "
        f"{config.collector_target_cpu_percent}% CPU) + {config.web_count} web"
    )
    if config.hbase_mode == "emr":
        return (
            f"emr: EMR HBase cluster ({config.emr_primary_instance_type} primary + {config.emr_core_instance_type} "
            f"x {config.emr_core_instance_count} core, {config.emr_release_label}, data on S3) + {scaled}"
        )
    if config.hbase_mode == "external":
        return (
            f"external: your HBase at {','.join(config.hbase_zookeeper_quorum)} (znode "
            f"{config.hbase_znode_parent}) + {scaled}"
        )
    data = (
        "on EFS, kept"
        if config.hbase_storage == "efs"
        else "on the task's ephemeral storage, lost with the task"
    )
    return (
        f"embedded: one all-in-one task (HBase + collector + web, {config.cpu / 1024:g} vCPU / "
        f"{config.memory_mib / 1024:g} GiB, {config.ephemeral_storage_gib} GiB ephemeral storage; HBase data {data})"
    )


def _check_bootstrap(
    findings: Findings, session: Any, identity: AwsIdentity, action: str, config: PlatformConfig | None
) -> None:
    try:
        version = bootstrap_version(session, identity)
    except ScriptError as error:
        findings.add(str(error))
        return
    if not bootstrap_needed(version):
        say(f"CDK bootstrap version {version}")
        return
    fix = f"run `make bootstrap` once (cdk bootstrap {environment(identity)})"
    if action == "deploy" and config is not None and config.auto_bootstrap:
        findings.bootstrap = identity
    elif action == "deploy" and config is not None:
        findings.add(f"{not_bootstrapped(identity, version)} and auto_bootstrap=false: {fix}")
    elif action == "diff":
        findings.add(f"{not_bootstrapped(identity, version)}: {fix}")


def _check_engine(findings: Findings, config: PlatformConfig) -> None:
    """The engine runs the task's platform, and a docker CLI builds with BuildKit (make deploy
    points ``cdk deploy`` at it through CDK_DOCKER: scripts/with_buildkit.py)."""
    platform = Platform.parse(PLATFORMS[config.cpu_architecture])
    how = cli = None
    try:
        how = check_platform_runnable(docker_client(), platform)
    except ScriptError as error:
        findings.add(str(error))
    try:
        cli = find_buildkit_cli()
    except ScriptError as error:
        findings.add(str(error))
    if how is not None and cli is not None:
        say(f"cdk deploy builds images/pinpoint for {platform}: {how}; BuildKit through {cli}")


def _check_downloads(findings: Findings, request: Request, config: PlatformConfig, out: Reporter) -> None:
    try:
        items = artifacts(config, request.dockerfile, image=config.image_source == "asset")
    except ScriptError as error:
        findings.add(str(error), error.exit_code)
        return
    with requests.Session() as http:
        for item, answer in probe_all(http, items):
            problem = probe_problem(item, answer)
            if problem is None:
                say(f"download {item.url} ({answer.detail})")
                continue
            if answer.missing or item.pinned is None:
                findings.add(problem)  # it must be downloaded now, or it never will be
            else:
                out.warn(f"{problem} (pinned already; the deploy downloads it later)")
    unpinned = [item for item in items if not item.pinned]
    stale = [
        f"{item.where} was pinned for {item.stale_from}, not {item.name}"
        for item in unpinned
        if item.stale_from
    ]
    if not unpinned:
        say(f"checksums pinned for {', '.join(item.name for item in items)}")
    elif config.strict_checksums:
        names = ", ".join(f"{item.where} ({item.name})" for item in unpinned if not item.stale_from)
        missing = [f"no SHA-512 for {names}"] if names else []
        findings.add(
            f"strict_checksums=true refuses unpinned downloads: {'; '.join([*missing, *stale])}; pin them "
            "with `make pin-checksums` and check them out of band, or set them in the settings file",
            EXIT_USAGE,
        )
    else:
        try:
            hidden = hidden_pins(request, unpinned)
        except ScriptError as error:
            findings.add(str(error), error.exit_code)
            return
        if hidden:
            path = settings_path(context_overrides(request.cdk_args), request.config_dir)
            findings.add(
                f"{', '.join(hidden)} would be pinned in {path}, but -c arguments or cdk.json override "
                "that file's value (image_build_args is replaced as a whole): move those settings into "
                "the file, or pin with `make pin-checksums` and pass the values",
                EXIT_USAGE,
            )
        for line in stale:
            say(f"{line} (a version changed): pinning it again")
        findings.to_pin = unpinned


def hidden_pins(request: Request, items: list[Artifact]) -> list[str]:
    """Settings of ``items`` the deploy would not see if pinned into its settings file."""
    overrides = context_overrides(request.cdk_args)
    path = settings_path(overrides, request.config_dir)
    probe_value = "0" * 128  # any valid SHA-512: only where it ends up matters
    raw = merged_settings(read_settings_file(path), [Pinned(item, probe_value, None) for item in items])
    try:
        effective = config_with_file(path.stem, raw, overrides)
    except ConfigError as error:
        raise config_error(error) from None
    return [item.where for item in items if _pinned_value(effective, item) != probe_value]


def _pinned_value(config: PlatformConfig, item: Artifact) -> str | None:
    return config.image_build_args.get(item.setting) if item.build_arg else config.agent_sha512


def pin_first_use(request: Request, items: list[Artifact], out: Reporter) -> None:
    """Pin ``items`` into the settings file the deploy reads (checked by ``hidden_pins``)."""
    path = settings_path(context_overrides(request.cdk_args), request.config_dir)
    raw = read_settings_file(path)
    say(f"pinning the SHA-512 of {len(items)} download(s) on first use into {path}")
    with requests.Session() as http:
        pinned: list[Pinned] = [pin(http, item, out) for item in items]
    write_settings(path, merged_settings(raw, pinned))
    for line in report_lines(pinned):
        print(line, flush=True)
    say(f"recorded in {path}; commit it, or re-pin with `make pin-checksums` after a version change")


def run(request: Request, out: Reporter, *, prog: str) -> int:
    findings, _config = check(request, out)
    if findings.problems:
        for text, _code in findings.problems:
            print(error_line(text, prog=prog), flush=True, file=sys.stderr)
        return findings.exit_code
    if findings.bootstrap is not None:
        identity = findings.bootstrap
        say(f"bootstrapping {environment(identity)} for the CDK (cdk bootstrap, once per account/region)")
        extra = ("--profile", profile) if (profile := cdk_profile(request.cdk_args)) else ()
        run_cdk_bootstrap(identity, out, cdk=request.cdk, extra_args=extra)
        version = bootstrap_version(findings.session, identity)
        if bootstrap_needed(version):
            raise ScriptError(
                f"cdk bootstrap {environment(identity)} finished, but its version parameter says {version} "
                f"(at least {MIN_BOOTSTRAP_VERSION} is needed)"
            )
        say(f"{environment(identity)} bootstrapped (version {version})")
    if findings.to_pin:
        pin_first_use(request, findings.to_pin, out)
    return 0
