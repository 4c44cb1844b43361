"""Synthesis helpers for construct tests: real ``cdk synth`` output via aws_cdk.assertions.

Synthesis costs seconds (jsii), so each distinct set of overrides is synthesized once per
session and shared by every test that asks for it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

# aws-cdk-lib's built-in "CloudFormation Validate" plugin runs on every synth unless this is
# "false" (App's builtin_cloud_formation_validation doc; read from the jsii node process's
# environment, so it must be set before aws_cdk is first imported). It costs ~8 s of CPU the
# first time in each process, and cdk.json leaves its findings as warnings
# (@aws-cdk/core:validateAgainstDefaultRules=false), so no test could fail on it; cfn-lint lints
# every variant instead, failing on errors (test_cfn_lint.py). The templates and metadata are
# the same with it on (compared for every variant). cdk-nag is a plugin of our own: unaffected.
os.environ["CDK_VALIDATION"] = "false"

import pytest

from stacks.config import REPO_ROOT

if TYPE_CHECKING:
    from aws_cdk.assertions import Template

# app.py's stack id (the assembly's file names). app.py and aws_cdk are imported on first use
# only: importing them starts jsii's node process, which the xdist controller (it runs no test)
# would otherwise pay for before it starts the workers.
STACK_ID = "PinpointOnFargate"

TEST_ENV = {"CDK_DEFAULT_ACCOUNT": "123456789012", "CDK_DEFAULT_REGION": "eu-west-1"}
# Settings files the synths read: none. A developer's config/default.json (the first make deploy
# writes one) must not change what the tests see.
# A directory that does not exist: no config/default.json, no environment files.
ISOLATED_CONFIG_DIR = Path(__file__).with_name("no-settings-files")
assert not ISOLATED_CONFIG_DIR.exists()

# Named override sets: every test that needs a non-default setting picks one, so the unit tier
# synthesizes eleven apps in all, each once per run however many xdist workers ask (see _synth).
CERTIFICATE_ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
CUSTOMIZED = {
    "log_retention_days": 90,
    "health_check_path": "/api-public/serverTime",
    "health_check_grace_seconds": 600,
    "web_port": 18080,
    "collector_agent_port": 19991,
    "collector_stat_port": 19992,
    "collector_span_port": 19993,
    "collector_allowed_cidrs": "10.50.0.0/16",
    "collector_allowed_security_group_ids": "sg-0123456789abcdef0",
    "hbase_storage": "efs",
}
HTTPS_FROM_ECR = {
    "container_insights": "disabled",
    "certificate_arn": CERTIFICATE_ARN,
    "web_allowed_cidrs": "10.9.0.0/16",
    "image_source": "ecr",
    "image_repository": "team/pinpoint",
    "image_tag": "abc1234",
}
SAMPLE_APP = {"sample_app_enabled": True, "agent_sha512": "ab" * 64}
# Operations settings away from their defaults (alarm names, thresholds, the e-mail subscription,
# enhanced Container Insights) and HBase on a new EFS with a longer backup retention.
OPERATIONS = {
    "name_prefix": "apm",
    "alarm_email": "ops@example.com",
    "alarm_cpu_percent": 70,
    "alarm_memory_percent": 75,
    "alarm_ephemeral_storage_percent": 60,
    "container_insights": "enhanced",
    "hbase_storage": "efs",
    "backup_retention_days": 90,
}
# The distributed topology. EMR: the stack's own cluster, plus agents outside Service Connect (the
# collector NLB must follow the collectors). External: the user's quorum (two ports), sample app.
EMR_CERTIFICATES = "s3://example-pinpoint-certs/emr/pinpoint-certs.zip"
EMR = {
    "hbase_mode": "emr",
    "emr_tls_certificates_s3_uri": EMR_CERTIFICATES,
    "collector_allowed_cidrs": "10.50.0.0/16",
}
# EMR as `hbase_mode=emr` alone deploys it (no certificates: in-transit encryption off, warned),
# with the WAL on HDFS instead of EMR WAL: the other branch of both, for cdk-nag and cfn-lint.
EMR_PLAIN = {"hbase_mode": "emr", "emr_wal": False}
EXTERNAL_QUORUM = ["zk1.corp.internal:2181", "zk2.corp.internal:2181", "zk3.corp.internal:2182"]
EXTERNAL = {
    "hbase_mode": "external",
    "hbase_zookeeper_quorum": ",".join(EXTERNAL_QUORUM),
    "hbase_znode_parent": "/hbase-pinpoint",
    **SAMPLE_APP,
}

# A cached Vpc.from_lookup answer (the CLI stores it in cdk.context.json), shaped like a hand-made
# VPC: two private subnets in eu-west-1a, one in eu-west-1b, and an isolated group with VPC
# endpoints instead of NAT. The key is what aws-cdk-lib 2.275 asks for (always asymmetric).
VPC_ID = "vpc-0123456789abcdef0"
SUBNETS = {
    "public-a": "subnet-0a000000000000001",
    "public-b": "subnet-0a000000000000002",
    "private-a1": "subnet-0b000000000000001",
    "private-a2": "subnet-0b000000000000002",
    "private-b": "subnet-0b000000000000003",
    "isolated-a": "subnet-0c000000000000001",
    "isolated-c": "subnet-0c000000000000002",
}


def _subnet(name: str, zone: str, cidr: str) -> dict[str, str]:
    return {"subnetId": SUBNETS[name], "cidr": cidr, "availabilityZone": zone, "routeTableId": f"rtb-{name}"}


VPC_LOOKUP = {
    f"vpc-provider:account=123456789012:filter.vpc-id={VPC_ID}:region=eu-west-1:returnAsymmetricSubnets=true": {
        "vpcId": VPC_ID,
        "vpcCidrBlock": "10.60.0.0/16",
        "ownerAccountId": "123456789012",
        "availabilityZones": [],
        "subnetGroups": [
            {
                "name": "Public",
                "type": "Public",
                "subnets": [
                    _subnet("public-a", "eu-west-1a", "10.60.0.0/24"),
                    _subnet("public-b", "eu-west-1b", "10.60.1.0/24"),
                ],
            },
            {
                "name": "Private",
                "type": "Private",
                "subnets": [
                    _subnet("private-a1", "eu-west-1a", "10.60.10.0/24"),
                    _subnet("private-a2", "eu-west-1a", "10.60.11.0/24"),
                    _subnet("private-b", "eu-west-1b", "10.60.12.0/24"),
                ],
            },
            {
                "name": "endpoints-only",
                "type": "Isolated",
                "subnets": [
                    _subnet("isolated-a", "eu-west-1a", "10.60.20.0/24"),
                    _subnet("isolated-c", "eu-west-1c", "10.60.21.0/24"),
                ],
            },
        ],
    }
}
RETAINED_HBASE_FILE_SYSTEM_ID = "fs-0123456789abcdef0"
# The lookup's private subnets as they come (two in one AZ), HBase on a retained file system,
# agents outside Service Connect (the collector NLB).
EXISTING_VPC = {
    "vpc_id": VPC_ID,
    "account": "123456789012",
    "region": "eu-west-1",
    **VPC_LOOKUP,
    "hbase_storage": "efs",
    "hbase_efs_file_system_id": RETAINED_HBASE_FILE_SYSTEM_ID,
    "collector_allowed_security_group_ids": "sg-0fedcba9876543210",
}
# Subnets chosen by id, across groups (the second one has no NAT), plus the sample app.
CHOSEN_SUBNETS = {
    "vpc_id": VPC_ID,
    "account": "123456789012",
    "region": "eu-west-1",
    **VPC_LOOKUP,
    "private_subnet_ids": [SUBNETS["private-a2"], SUBNETS["isolated-c"]],
}


# Every named override set, by what it exercises: requirements that hold in every variant
# (cfn-lint, cdk-nag) are checked on each.
ALL_VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "customized-hbase-on-efs-nlb": CUSTOMIZED,
    "https-ecr-image": HTTPS_FROM_ECR,
    "sample-app": SAMPLE_APP,
    "existing-vpc-retained-hbase": EXISTING_VPC,
    "chosen-subnets": CHOSEN_SUBNETS,
    "operations": OPERATIONS,
    "emr-hbase-nlb": EMR,
    "emr-plain-hdfs-wal": EMR_PLAIN,
    "external-hbase-sample-app": EXTERNAL,
}


class Synthesized:
    """One synthesized override set: the template, and the cloud assembly's metadata and assets."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        from aws_cdk.assertions import Template  # noqa: PLC0415 (see STACK_ID)

        self.template = Template.from_json(json.loads(self.template_path.read_text()))

    def entries(self, entry_type: str) -> list[tuple[str, dict[str, Any]]]:
        """(construct path, entry) of the stack's metadata entries of one type (warnings,
        acknowledged rules, ...), from the assembly the CLI reads them from."""
        metadata = json.loads((self.directory / f"{STACK_ID}.metadata.json").read_text())
        return [
            (path, entry)
            for path, entries in metadata.items()
            for entry in entries
            if entry["type"] == entry_type
        ]

    @property
    def template_path(self) -> Path:
        return self.directory / f"{STACK_ID}.template.json"

    def validation_report(self) -> dict[str, Any]:
        """The policy validation plugins' report (cdk-nag's among them) for this synth."""
        return json.loads((self.directory / "validation-report.json").read_text())

    def docker_images(self) -> list[dict[str, Any]]:
        assets = json.loads((self.directory / f"{STACK_ID}.assets.json").read_text())
        return list(assets.get("dockerImages", {}).values())


SHARED_DIR_VARIABLE = "PINPOINT_TEST_SYNTH_DIR"


def pytest_configure(config: pytest.Config) -> None:
    # The controller (or a run without xdist) makes the directory; xdist workers, spawned after
    # this, inherit the variable and share the assemblies.
    if not hasattr(config, "workerinput") and SHARED_DIR_VARIABLE not in os.environ:
        os.environ[SHARED_DIR_VARIABLE] = tempfile.mkdtemp(prefix="pinpoint-synth-")


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput") and SHARED_DIR_VARIABLE in os.environ:
        shutil.rmtree(os.environ.pop(SHARED_DIR_VARIABLE), ignore_errors=True)


def _shared_dir() -> Path:
    if SHARED_DIR_VARIABLE not in os.environ:  # imported outside a pytest run of tests/unit
        os.environ[SHARED_DIR_VARIABLE] = tempfile.mkdtemp(prefix="pinpoint-synth-")
    return Path(os.environ[SHARED_DIR_VARIABLE])


@cache
def _synth(frozen_overrides: str) -> Synthesized:
    """Synthesize once per run: the first worker to ask does it (under a lock), the others read
    its cloud assembly. Synthesis is CPU-bound; on 2 cores, 4 workers each synthesizing every
    override set took longer than the tests themselves."""
    key = hashlib.sha256(frozen_overrides.encode()).hexdigest()[:16]
    directory = _shared_dir() / key
    with (_shared_dir() / f"{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (directory / "done").exists():
            from app import STACK_ID as APP_STACK_ID  # noqa: PLC0415 (see STACK_ID)
            from app import create_app  # noqa: PLC0415

            assert APP_STACK_ID == STACK_ID

            overrides = json.loads(frozen_overrides)
            # cdk.json's feature flags apply, exactly as for `cdk synth`; the app is app.py's.
            context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
            app, _ = create_app(
                {**context, **overrides, "aws:cdk:disable-asset-staging": True},
                TEST_ENV,
                ISOLATED_CONFIG_DIR,
                outdir=str(directory),
            )
            app.synth()  # raises if cdk-nag finds anything unacknowledged
            (directory / "done").touch()
    return Synthesized(directory)


def synthesized(**overrides: Any) -> Synthesized:
    """The default config plus ``overrides`` (CDK context values), synthesized."""
    return _synth(json.dumps(overrides, sort_keys=True))


def synth(**overrides: Any) -> Template:
    """The template for the default config plus ``overrides`` (CDK context values)."""
    return synthesized(**overrides).template


@pytest.fixture(scope="session")
def template() -> Template:
    return synth()


@pytest.fixture(scope="session")
def synthesize() -> Callable[..., Template]:
    return synth
