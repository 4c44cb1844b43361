"""The one configuration schema for the platform: every setting, its default and its limits.

Settings come from, lowest precedence first:

1. the defaults below (they reproduce the mission: ARM64, 200 GiB, ``/serverTime``, 300 s ...);
2. a per-environment JSON file ``config/<name>.json`` chosen with ``-c config=<name>``;
3. CDK context: the ``context`` block of ``cdk.json`` and ``-c key=value`` on the command line.

Everything is validated once, at synth time, before anything reaches AWS. A bad value raises
:class:`ConfigError` whose message has one line per problem naming the setting, the bad value
and what is allowed.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from stacks.versions import PINPOINT_VERSION

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / "config"
# The settings file read when no `-c config=<name>` is given; it need not exist.
DEFAULT_ENVIRONMENT = "default"

# Fargate task sizes (Linux): cpu units -> allowed memory MiB. Source: the ECS developer guide
# "Task CPU and memory"; anything else is rejected by RegisterTaskDefinition at deploy time.
FARGATE_CPU_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

# Ports used inside the all-in-one container, which the published ports must not collide with:
# ZooKeeper 2181, HBase master 16000 (info server 16010), RegionServer 16020 (info 16030), the
# collector's HTTP port 8081 and the web's management port 8443 (both bound to loopback by the
# image, still taken inside the task's network namespace).
RESERVED_CONTAINER_PORTS = frozenset({2181, 16000, 16010, 16020, 16030, 8081, 8443})

ECR_REPOSITORY_NAME = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
VPC_ID = re.compile(r"^vpc-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
SECURITY_GROUP_ID = re.compile(r"^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
SUBNET_ID = re.compile(r"^subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
# EFS API pattern for a file system id (CreateMountTarget's FileSystemId).
EFS_FILE_SYSTEM_ID = re.compile(r"^fs-[0-9a-f]{8,40}$")
SUBNET_GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,254}$")
ACM_CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate/[0-9a-f-]{36}$")
ACCOUNT_ID = re.compile(r"^\d{12}$")
REGION = re.compile(r"^[a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d$")
STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
NAME_PREFIX = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,19}$")
DNS_LABEL = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")
DNS_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)
URL_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@/%-]{0,1023}$")
PINPOINT_ID = re.compile(r"^[a-zA-Z0-9._-]{1,24}$")
HTTP_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")
BUILD_ARG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PINPOINT_RELEASE = re.compile(r"^\d+\.\d+\.\d+$")

# The container's health check and the ALB need the web up; the image must finish booting
# (HBase, table bootstrap, collector and web) this long before the ECS grace period ends.
BOOT_MARGIN_SECONDS = 30

# Subnets of a new VPC (stacks/constructs/network.py): a /26 public subnet per AZ (NAT only) and
# a private subnet per AZ as large as the VPC allows, from /20 down to /27.
PUBLIC_SUBNET_MASK = 26

# Longest echo of a bad value in an error line; longer values are cut and their length named.
MAX_ECHO_CHARS = 120

# Settings whose value must match a pattern, and what to tell the user when it does not.
PATTERN_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "stack_name": (STACK_NAME, "1-128 letters, digits and -, starting with a letter"),
    "name_prefix": (
        NAME_PREFIX,
        "1-20 lowercase letters, digits and single hyphens, starting with a letter "
        "(derived names must fit the ALB's 32-char limit)",
    ),
    "account": (ACCOUNT_ID, "12 digits"),
    "region": (REGION, "an AWS region such as eu-west-1"),
    "vpc_id": (VPC_ID, "vpc- followed by 8 or 17 hex digits"),
    "namespace_name": (DNS_NAME, "a lowercase DNS name such as pinpoint.local"),
    "collector_dns_name": (DNS_LABEL, "one lowercase DNS label (1-63 chars)"),
    "certificate_arn": (ACM_CERTIFICATE_ARN, "arn:aws:acm:<region>:<account>:certificate/<id>"),
    "health_check_path": (URL_PATH, "an absolute URL path (starts with /, max 1024 chars)"),
    "sample_app_name": (PINPOINT_ID, "1-24 chars of a-z A-Z 0-9 . _ - (Pinpoint's limit)"),
    "pinpoint_version": (PINPOINT_RELEASE, "a Pinpoint release MAJOR.MINOR.PATCH such as 3.1.0"),
    "private_subnet_group_name": (
        SUBNET_GROUP_NAME,
        "a subnet group name of the VPC (its aws-cdk:subnet-name tag)",
    ),
    "hbase_efs_file_system_id": (EFS_FILE_SYSTEM_ID, "an EFS file system id such as fs-0123456789abcdef0"),
}

# Settings limited to a fixed set of values (Fargate CPU sizes, CloudWatch retention periods).
ALLOWED_VALUES: dict[str, tuple[int, ...]] = {
    "cpu": tuple(FARGATE_CPU_MEMORY),
    "sample_app_cpu": tuple(FARGATE_CPU_MEMORY),
    "log_retention_days": LOG_RETENTION_DAYS,
}

# Context keys that are not settings: CDK's own (feature flags carry '@' or ':'), and ours.
NON_SETTING_CONTEXT_KEYS = frozenset({"config", "acknowledged-issue-numbers", "cli-telemetry"})


class ConfigError(ValueError):
    """Invalid configuration; ``str(error)`` is one line per problem, ready to print."""


def _split_list(value: Any) -> Any:
    """``-c key=a,b`` and ``-c key='["a","b"]'`` both give a list; real lists pass through."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as error:
                raise ValueError(f"not a JSON list ({error.msg})") from None
        return [item.strip() for item in text.split(",") if item.strip()]
    return value


def _parse_json_object(value: Any) -> Any:
    """``-c key='{"A": "1"}'`` arrives as a string; files and cdk.json give a real object."""
    if isinstance(value, str):
        try:
            return json.loads(value or "{}")
        except json.JSONDecodeError as error:
            raise ValueError(f"allowed: a JSON object of strings ({error.msg})") from None
    return value


def _none_if_empty(value: Any) -> Any:
    return None if isinstance(value, str) and value.strip() == "" else value


NOT_A_NUMBER = "a number (JSON true/false is not one)"


def _not_bool(value: Any) -> Any:
    """Pydantic's lax mode reads JSON ``true`` as 1: a number setting must be given a number."""
    if isinstance(value, bool):
        raise ValueError(NOT_A_NUMBER)
    return value


StrList = Annotated[list[str], BeforeValidator(_split_list)]
StrDict = Annotated[dict[str, str], BeforeValidator(_parse_json_object)]
OptionalStr = Annotated[str | None, BeforeValidator(_none_if_empty)]
Int = Annotated[int, BeforeValidator(_not_bool)]
Float = Annotated[float, BeforeValidator(_not_bool)]


def validate_ecr_repository_name(value: str) -> str:
    """ECR's repository-name rule; shared with scripts/push_image.py."""
    if not 2 <= len(value) <= 256 or not ECR_REPOSITORY_NAME.fullmatch(value):
        raise ValueError(
            "allowed: 2-256 chars of lowercase letters, digits and . _ - (not leading/trailing), "
            "optionally namespaced with /"
        )
    return value


def validate_image_tag(value: str) -> str:
    if not IMAGE_TAG.fullmatch(value):
        raise ValueError("allowed: 1-128 chars of letters, digits, _ . - (not starting with . or -)")
    return value


def _cidr(value: str) -> str:
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError as error:
        raise ValueError(f"allowed: an IPv4 CIDR with host bits zero, e.g. 10.0.0.0/16 ({error})") from None
    if network.prefixlen == 0:
        raise ValueError("allowed: a CIDR narrower than /0 (no ingress from the whole internet)")
    return str(network)


class PlatformConfig(BaseModel):
    """Every setting of the platform. Field descriptions feed the README's reference table."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    # --- identity / environment -------------------------------------------------------------
    stack_name: str = Field("PinpointOnFargate", description="CloudFormation stack name (1-128 chars).")
    name_prefix: str = Field(
        "pinpoint",
        description="Prefix of named resources (cluster, service, log groups); 1-20 lowercase chars.",
    )
    account: OptionalStr = Field(
        None, description="AWS account id; default: the CLI's (CDK_DEFAULT_ACCOUNT). Needed with vpc_id."
    )
    region: OptionalStr = Field(None, description="AWS region; default: the CLI's (CDK_DEFAULT_REGION).")

    pinpoint_version: str = Field(
        PINPOINT_VERSION,
        description="Pinpoint release of the collector, web and agent (they must match; a 3.1 agent "
        "needs a 3.1 collector).",
    )

    # --- first run ----------------------------------------------------------------------------
    auto_bootstrap: bool = Field(
        True,
        description="make deploy runs cdk bootstrap when the account/region is not bootstrapped "
        "(false: refuse and say so).",
    )
    strict_checksums: bool = Field(
        False,
        description="Refuse downloads whose SHA-512 is not pinned yet (false: make deploy pins them on "
        "first use, trust on first download, and records them in config/<env>.json).",
    )

    # --- network -------------------------------------------------------------------------------
    vpc_id: OptionalStr = Field(
        None, description="Use this existing VPC (vpc-...) instead of creating one; needs account+region."
    )
    private_subnet_ids: StrList = Field(
        default_factory=list,
        description="With vpc_id: the private subnets (subnet-...) tasks, the distributor, EFS and the load "
        "balancers use (EFS and load balancers take one per AZ; at least 2 AZs). Default: the VPC's private "
        "subnets with egress.",
    )
    private_subnet_group_name: OptionalStr = Field(
        None,
        description="With vpc_id: use this subnet group (the aws-cdk:subnet-name tag, else Private/Isolated) "
        "instead of the private subnets with egress; combines with private_subnet_ids.",
    )
    vpc_cidr: str = Field(
        "10.40.0.0/16",
        description="CIDR of the new VPC (/16 to /24; it must hold a /26 public and a private subnet per AZ: "
        "/23 or /24 only with max_azs=2).",
    )
    max_azs: Int = Field(2, ge=2, le=3, description="Availability zones of the new VPC (2-3).")
    nat_gateways: Int = Field(
        1, ge=1, le=3, description="NAT gateways of the new VPC (1-3, at most max_azs); 1 keeps cost down."
    )

    # --- Pinpoint task -----------------------------------------------------------------------
    cpu_architecture: Literal["ARM64", "X86_64"] = Field("ARM64", description="Fargate CPU architecture.")
    cpu: Int = Field(
        4096, description="Task CPU units; a Fargate size (256, 512, 1024, 2048, 4096, 8192, 16384)."
    )
    memory_mib: Int = Field(
        16384, description="Task memory (MiB); must be a Fargate size for the chosen cpu."
    )
    ephemeral_storage_gib: Int = Field(
        200, ge=21, le=200, description="Task ephemeral storage (GiB, 21-200); holds HBase data."
    )
    stop_timeout_seconds: Int = Field(
        120, ge=30, le=120, description="Grace between SIGTERM and SIGKILL (30-120 s; HBase flushes in it)."
    )
    web_port: Int = Field(8080, ge=1, le=65535, description="Pinpoint web port (the ALB target).")
    collector_agent_port: Int = Field(9991, ge=1, le=65535, description="Collector gRPC agent+metadata port.")
    collector_stat_port: Int = Field(9992, ge=1, le=65535, description="Collector gRPC stat port.")
    collector_span_port: Int = Field(9993, ge=1, le=65535, description="Collector gRPC span port.")
    hbase_ttl_days: Int = Field(
        60, ge=1, le=3650, description="TTL of traces, statistics and agent events in HBase (days, 1-3650)."
    )
    hbase_split_regions: Int = Field(
        32,
        ge=2,
        le=256,
        description="Regions each uniformly pre-split HBase table starts with (2-256; upstream uses 256, "
        "too many for one RegionServer; HBase's shell rejects NUMREGIONS < 2).",
    )
    boot_timeout_seconds: Int = Field(
        240,
        ge=60,
        le=3600,
        description="Time the image may take to start HBase, create missing tables and start collector "
        f"and web (60-3600 s); must end {BOOT_MARGIN_SECONDS} s before health_check_grace_seconds.",
    )
    hbase_storage: Literal["ephemeral", "efs"] = Field(
        "ephemeral",
        description="HBase data on the task's ephemeral storage (fast; lost when the task is replaced) "
        "or on encrypted EFS (kept across deploys and restarts; slower, billed per GB).",
    )
    hbase_efs_file_system_id: OptionalStr = Field(
        None,
        description="With hbase_storage=efs: mount this existing file system (fs-..., e.g. the one a "
        "destroyed stack retained) instead of creating one; the stack adds mount targets, a security group "
        "and the access point. It must have no mount targets left in another VPC.",
    )
    log_retention_days: Int = Field(
        30, description="CloudWatch Logs retention (days; a value CloudWatch accepts)."
    )
    container_insights: Literal["enabled", "enhanced", "disabled"] = Field(
        "enabled", description="ECS Container Insights level for the cluster."
    )

    # --- image source ------------------------------------------------------------------------
    image_source: Literal["asset", "ecr"] = Field(
        "asset",
        description="asset: cdk deploy builds images/pinpoint and pushes it; ecr: use image_repository:image_tag.",
    )
    image_repository: str = Field(
        "pinpoint-all-in-one", description="ECR repository for image_source=ecr and make push-image."
    )
    image_tag: OptionalStr = Field(
        None, description="Image tag for image_source=ecr (immutable; 'latest' is refused)."
    )
    image_build_args: StrDict = Field(
        default_factory=dict,
        description="Extra docker build args for the asset build (e.g. download mirrors).",
    )
    ecr_keep_images: Int = Field(
        10, ge=1, le=1000, description="make push-image: lifecycle policy keeps this many images (1-1000)."
    )

    # --- service discovery / collector -------------------------------------------------------
    namespace_name: str = Field("pinpoint.local", description="Cloud Map namespace for Service Connect.")
    collector_dns_name: str = Field(
        "pinpoint", description="Service Connect client DNS name of the collector (one DNS label)."
    )
    service_connect_idle_timeout_seconds: Int = Field(
        3600,
        ge=0,
        le=86400,
        description="Idle timeout of collector connections via Service Connect (s; 0 disables).",
    )
    collector_allowed_cidrs: StrList = Field(
        default_factory=list,
        description="Agents outside Service Connect (EC2, Lambda, on-premises) in these CIDRs reach the "
        "collector through an internal NLB (output CollectorNlbDnsName); never /0.",
    )
    collector_allowed_security_group_ids: StrList = Field(
        default_factory=list,
        description="Security groups of agents outside Service Connect allowed into the collector NLB.",
    )

    # --- load balancer -----------------------------------------------------------------------
    web_allowed_cidrs: StrList = Field(
        default_factory=list,
        description="CIDRs allowed to the internal ALB; empty means the VPC's CIDR only (never /0).",
    )
    web_allowed_security_group_ids: StrList = Field(
        default_factory=list, description="Security groups allowed to the internal ALB."
    )
    certificate_arn: OptionalStr = Field(
        None, description="ACM certificate ARN: adds HTTPS on 443 and redirects HTTP to it."
    )
    health_check_path: str = Field("/serverTime", description="ALB target health-check path.")
    health_check_grace_seconds: Int = Field(
        300, ge=0, le=7200, description="ECS health-check grace period (0-7200 s) while HBase starts."
    )

    # --- agent distribution ------------------------------------------------------------------
    agent_mount_path: str = Field(
        "/pinpoint-agent", description="Where application containers mount the agent access point."
    )
    agent_profile: Literal["release", "local"] = Field(
        "release",
        description="Pinpoint agent profile activated in the bundle; local records HTTP cookies and "
        "request bodies, so it needs agent_allow_local_profile=true.",
    )
    agent_allow_local_profile: bool = Field(
        False,
        description="Opt in to agent_profile=local (it records cookies and request bodies into traces).",
    )
    agent_sampling_percent: Float = Field(
        100.0, gt=0, le=100, description="Share of transactions the agent traces (0 < p <= 100)."
    )
    agent_excluded_urls: StrList = Field(
        default_factory=lambda: ["/", "/actuator/prometheus"],
        description="URL paths the agent does not trace.",
    )
    agent_recorded_headers: StrList = Field(
        default_factory=lambda: ["Origin", "Referer", "User-Agent"],
        description="HTTP request headers recorded on traces (avoid secrets such as tokens).",
    )
    agent_download_base_url: str = Field(
        "https://github.com/pinpoint-apm/pinpoint/releases/download",
        description="Where the deploy fetches the pinned agent release (a mirror for air-gapped setups).",
    )
    agent_sha512: OptionalStr = Field(
        None,
        description="SHA-512 of the pinned pinpoint-agent-<v>.tar.gz; the deploy refuses an agent it cannot verify.",
    )

    # --- sample application ------------------------------------------------------------------
    sample_app_enabled: bool = Field(False, description="Deploy a sample Java service wired to the agent.")
    sample_app_name: str = Field(
        "sample-app", description="Pinpoint applicationName of the sample service (1-24 of a-zA-Z0-9._-)."
    )
    sample_app_cpu: Int = Field(512, description="Sample service task CPU units (a Fargate size).")
    sample_app_memory_mib: Int = Field(1024, description="Sample service task memory (MiB, Fargate size).")

    # --- field validators ----------------------------------------------------------------------
    @field_validator(*PATTERN_RULES)
    @classmethod
    def _matches_pattern(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:  # optional settings left unset
            return None
        pattern, allowed = PATTERN_RULES[info.field_name]
        if not pattern.fullmatch(value):
            raise ValueError(f"allowed: {allowed}")
        return value

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc_cidr(cls, value: str) -> str:
        cidr = _cidr(value)
        if not 16 <= ipaddress.IPv4Network(cidr).prefixlen <= 24:
            raise ValueError("allowed: a prefix length from /16 to /24")
        return cidr

    @field_validator("collector_allowed_cidrs", "web_allowed_cidrs")
    @classmethod
    def _cidrs(cls, values: list[str]) -> list[str]:
        return [_cidr(value) for value in values]

    @field_validator("collector_allowed_security_group_ids", "web_allowed_security_group_ids")
    @classmethod
    def _security_groups(cls, values: list[str]) -> list[str]:
        for value in values:
            if not SECURITY_GROUP_ID.fullmatch(value):
                raise ValueError(
                    f"{value!r} is not a security group id; allowed: sg- followed by 8 or 17 hex digits"
                )
        return values

    @field_validator("private_subnet_ids")
    @classmethod
    def _subnets(cls, values: list[str]) -> list[str]:
        for value in values:
            if not SUBNET_ID.fullmatch(value):
                raise ValueError(
                    f"{value!r} is not a subnet id; allowed: subnet- followed by 8 or 17 hex digits"
                )
        if len(set(values)) != len(values):
            raise ValueError("allowed: each subnet once")
        return values

    @field_validator(*ALLOWED_VALUES)
    @classmethod
    def _one_of_allowed(cls, value: int, info: ValidationInfo) -> int:
        allowed = ALLOWED_VALUES[info.field_name]
        if value not in allowed:
            raise ValueError(f"allowed: {', '.join(map(str, allowed))}")
        return value

    @field_validator("image_repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        return validate_ecr_repository_name(value)

    @field_validator("image_tag")
    @classmethod
    def _tag(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value == "latest":
            raise ValueError(
                "allowed: an immutable tag such as a git sha; 'latest' would not redeploy on change"
            )
        return validate_image_tag(value)

    @field_validator("image_build_args")
    @classmethod
    def _build_args(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not BUILD_ARG_NAME.fullmatch(name):
                raise ValueError(f"build arg name {name!r} is invalid; allowed: letters, digits and _")
            if name == "PINPOINT_VERSION":
                # The jars and the agent must be the same release: one setting decides both.
                raise ValueError(
                    "build arg PINPOINT_VERSION comes from pinpoint_version; allowed: set pinpoint_version"
                )
        return value

    @field_validator("agent_mount_path")
    @classmethod
    def _mount_path(cls, value: str) -> str:
        if not re.fullmatch(r"^/[A-Za-z0-9._/-]{1,200}$", value) or value.rstrip("/") in {
            "",
            "/proc",
            "/sys",
            "/dev",
        }:
            raise ValueError(
                "allowed: an absolute container path of letters, digits, . _ - /, not a system path"
            )
        return value.rstrip("/")

    @field_validator("agent_excluded_urls")
    @classmethod
    def _excluded(cls, values: list[str]) -> list[str]:
        for value in values:
            if not URL_PATH.fullmatch(value) or "," in value:
                raise ValueError(f"{value!r} is not a URL path; allowed: absolute paths without commas")
        return values

    @field_validator("agent_recorded_headers")
    @classmethod
    def _headers(cls, values: list[str]) -> list[str]:
        for value in values:
            if not HTTP_HEADER_NAME.fullmatch(value):
                raise ValueError(
                    f"{value!r} is not an HTTP header name; allowed: header tokens such as User-Agent"
                )
        return values

    @field_validator("agent_download_base_url")
    @classmethod
    def _download_url(cls, value: str) -> str:
        if not re.fullmatch(r"^https?://[A-Za-z0-9.-]+(?::\d+)?(?:/[A-Za-z0-9._~%/-]*)?$", value):
            raise ValueError("allowed: an http(s) URL without query or fragment")
        return value.rstrip("/")

    @field_validator("agent_sampling_percent")
    @classmethod
    def _sampling(cls, value: float) -> float:
        # The agent keeps 0.01 % resolution; a finer value would be truncated (0.001 -> off).
        if abs(value * 100 - round(value * 100)) > 1e-9:
            raise ValueError("allowed: 0.01 to 100 in steps of 0.01 (the agent's sampling resolution)")
        return value

    @field_validator("agent_sha512")
    @classmethod
    def _agent_sha512(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"[0-9a-fA-F]{128}", value.strip()):
            raise ValueError("allowed: 128 hex digits, the sha512sum of the agent release tarball")
        return value.strip().lower()

    # --- cross-field rules ---------------------------------------------------------------------
    @model_validator(mode="after")
    def _cross_field(self) -> PlatformConfig:
        _check_task_size("memory_mib", self.cpu, self.memory_mib)
        _check_task_size("sample_app_memory_mib", self.sample_app_cpu, self.sample_app_memory_mib)
        ports = {
            "web_port": self.web_port,
            "collector_agent_port": self.collector_agent_port,
            "collector_stat_port": self.collector_stat_port,
            "collector_span_port": self.collector_span_port,
        }
        seen: dict[int, str] = {}
        for key, port in ports.items():
            if port in RESERVED_CONTAINER_PORTS:
                raise _SettingError(
                    key,
                    port,
                    f"it is used inside the container; allowed: any port except {sorted(RESERVED_CONTAINER_PORTS)}",
                )
            if port in seen:
                raise _SettingError(key, port, f"it is already used by {seen[port]}; allowed: distinct ports")
            seen[port] = key
        if self.nat_gateways > self.max_azs:
            raise _SettingError("nat_gateways", self.nat_gateways, f"allowed: 1 to max_azs ({self.max_azs})")
        self._check_network()
        if self.hbase_efs_file_system_id and self.hbase_storage != "efs":
            raise _SettingError(
                "hbase_efs_file_system_id",
                self.hbase_efs_file_system_id,
                "allowed: only with hbase_storage=efs (the HBase data directory is then that file system)",
            )
        if self.certificate_arn and self.region:
            certificate_region = ACM_CERTIFICATE_ARN.fullmatch(self.certificate_arn).group(1)  # type: ignore[union-attr]
            if certificate_region != self.region:
                raise _SettingError(
                    "certificate_arn",
                    self.certificate_arn,
                    f"the certificate is in {certificate_region}, the stack in {self.region}; allowed: an ACM "
                    "certificate of the stack's region (an ALB uses certificates of its own region only)",
                )
        if self.image_source == "ecr" and self.image_tag is None:
            raise _SettingError(
                "image_tag",
                None,
                "allowed: an image tag such as the one make push-image printed (image_source=ecr needs one)",
            )
        if self.boot_timeout_seconds + BOOT_MARGIN_SECONDS > self.health_check_grace_seconds:
            raise _SettingError(
                "health_check_grace_seconds",
                self.health_check_grace_seconds,
                f"allowed: at least boot_timeout_seconds ({self.boot_timeout_seconds}) + "
                f"{BOOT_MARGIN_SECONDS} s, so the image has booted before ECS judges its health",
            )
        if self.agent_profile == "local" and not self.agent_allow_local_profile:
            raise _SettingError(
                "agent_profile",
                self.agent_profile,
                "allowed: release; local records HTTP cookies and request bodies into traces "
                "(set agent_allow_local_profile=true to opt in)",
            )
        if self.vpc_id and not (self.account and self.region):
            raise _SettingError(
                "vpc_id",
                self.vpc_id,
                "looking up a VPC needs account and region (set them, or CDK_DEFAULT_* via a profile)",
            )
        return self

    def _check_network(self) -> None:
        if self.vpc_id is None:
            for key in ("private_subnet_ids", "private_subnet_group_name"):
                if getattr(self, key):
                    raise _SettingError(
                        key,
                        getattr(self, key),
                        "allowed: only with vpc_id (a new VPC's subnets are the stack's own)",
                    )
            prefix = ipaddress.IPv4Network(self.vpc_cidr).prefixlen
            if not subnets_fit(prefix, self.max_azs):
                smallest = next(p for p in range(24, 15, -1) if subnets_fit(p, self.max_azs))
                raise _SettingError(
                    "vpc_cidr",
                    self.vpc_cidr,
                    f"too small for max_azs={self.max_azs} (a /{PUBLIC_SUBNET_MASK} public and a "
                    f"/{private_subnet_mask(prefix)} private subnet per AZ); allowed: /{smallest} or larger, "
                    "or fewer max_azs",
                )

    # --- derived values ------------------------------------------------------------------------
    @property
    def collector_ports(self) -> tuple[int, int, int]:
        return (self.collector_agent_port, self.collector_stat_port, self.collector_span_port)


def private_subnet_mask(prefix: int) -> int:
    """The new VPC's private subnet size: a quarter of the VPC, at least /27, at most /20."""
    return max(20, min(27, prefix + 2))


def subnets_fit(prefix: int, max_azs: int) -> bool:
    """Whether a /prefix VPC holds the public and private subnets of ``max_azs`` AZs.

    CDK's allocator places the subnets in order (public per AZ, then private per AZ), each at the
    next address aligned to its size; a /23 or /24 with 3 AZs overflows (aws-cdk-lib 2.275 raises
    "1 of /26 exceeds remaining space" deep inside synth).
    """
    cursor = 0
    for mask in [PUBLIC_SUBNET_MASK] * max_azs + [private_subnet_mask(prefix)] * max_azs:
        size = 2 ** (32 - mask)
        cursor = -(-cursor // size) * size + size
    return cursor <= 2 ** (32 - prefix)


class _SettingError(ValueError):
    """A cross-field problem attributed to one setting (reported like a field error)."""

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        super().__init__(allowed)
        self.key, self.value, self.allowed = key, value, allowed


def _check_task_size(key: str, cpu: int, memory: int) -> None:
    allowed = FARGATE_CPU_MEMORY.get(cpu, ())
    if memory not in allowed:
        low, high = allowed[0], allowed[-1]
        step = allowed[1] - allowed[0]
        raise _SettingError(key, memory, f"allowed with cpu={cpu}: {low}-{high} in steps of {step}")


SETTING_NAMES = frozenset(PlatformConfig.model_fields)


def _field_range(key: str) -> str | None:
    """'21 to 200' for a field declared with ge/le bounds."""
    field = PlatformConfig.model_fields.get(key)
    if field is None:
        return None
    low = next((m.ge for m in field.metadata if getattr(m, "ge", None) is not None), None)
    high = next((m.le for m in field.metadata if getattr(m, "le", None) is not None), None)
    return f"{low} to {high}" if low is not None and high is not None else None


_RANGE_ERRORS = {"greater_than_equal", "less_than_equal", "int_parsing", "int_type", "int_from_float"}


def _allowed_text(key: str, error_type: str, message: str) -> str:
    message = message.removeprefix("Value error, ")
    if error_type in _RANGE_ERRORS and (bounds := _field_range(key)):
        return f"allowed: {bounds}"
    if message == NOT_A_NUMBER:
        bounds = _field_range(key)
        return f"allowed: {NOT_A_NUMBER}" + (f", {bounds}" if bounds else "")
    if error_type.startswith("bool_"):
        return "allowed: true or false"
    message = message.removeprefix("Input should be ")
    return message if "allowed" in message else f"allowed: {message}"


def _cut(text: str, length: int | None = None) -> str:
    if len(text) <= MAX_ECHO_CHARS:
        return text
    return f"{text[: MAX_ECHO_CHARS - 20]}... ({len(text) if length is None else length} chars)"


def echo(value: Any) -> str:
    """``repr(value)``, cut to MAX_ECHO_CHARS with the full length named (a pasted file stays short)."""
    return _cut(repr(value), len(value) if isinstance(value, str | list | dict) else None)


def _format_error(key: str, value: Any, allowed: str) -> str:
    return f"Invalid setting {key}={echo(value)}: {allowed}"


def _suggestion(key: str) -> str:
    by_lower = {name.lower(): name for name in SETTING_NAMES}
    normalised = key.lower().replace("-", "_")
    if normalised in by_lower:  # wrong case or hyphens: settings are lowercase snake_case
        return f"did you mean {by_lower[normalised]}?"
    close = difflib.get_close_matches(normalised, SETTING_NAMES, n=1)
    return f"did you mean {close[0]}?" if close else "see the README's configuration reference"


def parse_settings(raw: Mapping[str, Any]) -> PlatformConfig:
    """Validate raw settings (already merged); raise ConfigError with one line per problem."""
    unknown = sorted(set(raw) - SETTING_NAMES)
    if unknown:
        lines = [f"Unknown setting {_cut(key)}={echo(raw[key])}: {_suggestion(key)}" for key in unknown]
        raise ConfigError("\n".join(lines))
    try:
        return PlatformConfig.model_validate(dict(raw))
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            context_error = (problem.get("ctx") or {}).get("error")
            if isinstance(context_error, _SettingError):
                lines.append(_format_error(context_error.key, context_error.value, context_error.allowed))
                continue
            key = str(problem["loc"][0]) if problem["loc"] else "?"
            value = raw.get(key, problem.get("input"))
            lines.append(_format_error(key, value, _allowed_text(key, problem["type"], problem["msg"])))
        raise ConfigError("\n".join(lines)) from None


def _is_setting_key(key: str) -> bool:
    return "@" not in key and ":" not in key and key not in NON_SETTING_CONTEXT_KEYS


def load_environment_file(name: str, config_dir: Path = CONFIG_DIR) -> dict[str, Any]:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        raise ConfigError(f"Invalid setting config={name!r}: allowed: a file name in config/ without .json")
    path = config_dir / f"{name}.json"
    if not path.exists():
        choices = ", ".join(sorted(p.stem for p in config_dir.glob("*.json"))) or "none"
        raise ConfigError(
            f"Invalid setting config={name!r}: no {path.name} in {config_dir} (available: {choices})"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(f"Invalid setting config={name!r}: {path} is not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"Invalid setting config={name!r}: {path} must hold a JSON object of settings")
    return data


def environment_name(context: Mapping[str, Any]) -> str:
    """The settings file a run reads: ``-c config=<name>``, else ``default``."""
    return str(context.get("config") or DEFAULT_ENVIRONMENT)


def merge_settings(context: Mapping[str, Any], config_dir: Path = CONFIG_DIR) -> dict[str, Any]:
    """Defaults < config/<name>.json < CDK context (cdk.json ``context`` and ``-c``).

    Without ``-c config=<name>`` the file is ``config/default.json``, which may be absent: a fresh
    clone synthesizes with the defaults, and the first ``make deploy`` records what it pins
    (checksums) there, so later runs read it without any flag.
    """
    merged: dict[str, Any] = {}
    environment = environment_name(context)
    if environment != DEFAULT_ENVIRONMENT or (config_dir / f"{DEFAULT_ENVIRONMENT}.json").exists():
        merged.update(load_environment_file(environment, config_dir))
    merged.update({key: value for key, value in context.items() if _is_setting_key(key)})
    return merged


def load_config(
    overrides: Mapping[str, Any] | None = None,
    cdk_json: Path = REPO_ROOT / "cdk.json",
    config_dir: Path = CONFIG_DIR,
) -> PlatformConfig:
    """Load the config outside CDK (scripts): cdk.json context, then ``overrides`` on top."""
    context: dict[str, Any] = {}
    if cdk_json.exists():
        context.update(json.loads(cdk_json.read_text()).get("context", {}))
    context.update(overrides or {})
    return parse_settings(merge_settings(context, config_dir))


# ALB access logging and other region-specific wiring need a concrete region at synth time. When
# neither the settings nor the CLI (profile/env) name one, `make synth` still works offline for
# this region; `make deploy` always has one from the credentials' profile.
FALLBACK_REGION = "us-east-1"


def resolve_environment(config: PlatformConfig, environ: Mapping[str, str] | None = None) -> PlatformConfig:
    """Fill account/region from the CDK CLI's CDK_DEFAULT_* when not set explicitly."""
    environ = os.environ if environ is None else environ
    account = config.account or environ.get("CDK_DEFAULT_ACCOUNT") or None
    # Offline, a certificate names the region it must be deployed in.
    certificate = ACM_CERTIFICATE_ARN.fullmatch(config.certificate_arn or "")
    region = (
        config.region
        or environ.get("CDK_DEFAULT_REGION")
        or (certificate.group(1) if certificate else None)
        or FALLBACK_REGION
    )
    return parse_settings({**config.model_dump(exclude_defaults=True), "account": account, "region": region})


def config_from_app_context(node: Any, config_dir: Path = CONFIG_DIR) -> PlatformConfig:
    """Load the config inside a CDK app from its node's context (cdk.json + ``-c``)."""
    context = dict(node.get_all_context())
    return parse_settings(merge_settings(context, config_dir))
