"""The limits settings are checked against: AWS sizes and patterns, reserved ports, parsers.

Plain data and small pure functions, shared by the schema (``schema.py``) and by callers that
apply the same rule elsewhere (``scripts/`` validates image tags and repository names with it).
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

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
EMAIL_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
# EMR 6.x and 7.x ship HBase 2.x, the only server line Pinpoint 3.1's client (2.5.x) supports. 8.x
# changes the service-access contract (a VPC endpoint on 443 instead of an ENI on 8443/9443:
# ManagementGuide emr-man-sec-groups, "Amazon EMR-managed security group for service access"),
# which stacks/constructs/emr_hbase.py does not implement.
EMR_RELEASE_LABEL = re.compile(r"^emr-[67]\.\d+\.\d+$")
# Amazon EMR WAL (hbase.emr.wal.enabled) exists from this release on (ReleaseGuide
# emr-hbase-wal-considerations: "available to use with Amazon EMR releases 6.15.0 and higher").
EMR_WAL_MIN_RELEASE = (6, 15, 0)
# Graviton (ARM64) EC2 instance types: a "g" after the generation digit, e.g. m7g.xlarge, r6gd.2xlarge.
GRAVITON_INSTANCE_TYPE = re.compile(r"^[a-z]+\d+g[a-z]*\.(?:medium|large|\d*xlarge|metal)$")
# An object in S3 (EMR's PEM certificates zip for in-transit encryption): s3://bucket/key.zip.
S3_ZIP_URI = re.compile(
    r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[A-Za-z0-9!_.*'()/-]{0,1019}[A-Za-z0-9_-]\.zip$"
)
HBASE_ZNODE = re.compile(r"^/[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*$")
# One ZooKeeper server of an external HBase: host:port (a DNS name or IPv4 address).
ZOOKEEPER_SERVER = re.compile(
    r"^(?=.{1,253}:)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r":(?:[1-9]\d{0,3}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5])$"
)

# The table bootstrap's budget when bootstrap_timeout_seconds is not set: on EMR, pre-split tables are
# created on S3 (each region's directory and .regioninfo is an S3 write), slower than on HDFS.
EMR_BOOTSTRAP_TIMEOUT_SECONDS = 1800


def release_version(label: str) -> tuple[int, int, int]:
    """``emr-7.13.0`` -> (7, 13, 0)."""
    major, minor, patch = label.removeprefix("emr-").split(".")
    return int(major), int(minor), int(patch)


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
    "alarm_email": (EMAIL_ADDRESS, "an e-mail address such as ops@example.com"),
    "emr_release_label": (
        EMR_RELEASE_LABEL,
        "an Amazon EMR 6.x or 7.x release label such as emr-7.13.0 (HBase 2.x; 8.x's service-access network is "
        "not supported)",
    ),
    "emr_primary_instance_type": (GRAVITON_INSTANCE_TYPE, "a Graviton instance type such as m7g.xlarge"),
    "emr_core_instance_type": (GRAVITON_INSTANCE_TYPE, "a Graviton instance type such as m7g.xlarge"),
    "hbase_znode_parent": (HBASE_ZNODE, "an absolute ZooKeeper path such as /hbase"),
    "emr_tls_certificates_s3_uri": (
        S3_ZIP_URI,
        "s3://<bucket>/<key>.zip (a zip of privateKey.pem, certificateChain.pem and optionally "
        "trustedCertificates.pem)",
    ),
}

# List settings: each item must match (what it is, its pattern, what is allowed), and appear once.
LIST_PATTERN_RULES: dict[str, tuple[str, re.Pattern[str], str]] = {
    **dict.fromkeys(
        ("collector_allowed_security_group_ids", "web_allowed_security_group_ids"),
        ("a security group id", SECURITY_GROUP_ID, "sg- followed by 8 or 17 hex digits"),
    ),
    "hbase_zookeeper_quorum": (
        "host:port",
        ZOOKEEPER_SERVER,
        "ZooKeeper servers such as zk1.example.internal:2181",
    ),
    "private_subnet_ids": ("a subnet id", SUBNET_ID, "subnet- followed by 8 or 17 hex digits"),
}

# Settings limited to a fixed set of values (Fargate CPU sizes, CloudWatch retention periods).
ALLOWED_VALUES: dict[str, tuple[int, ...]] = {
    "cpu": tuple(FARGATE_CPU_MEMORY),
    "sample_app_cpu": tuple(FARGATE_CPU_MEMORY),
    "collector_cpu": tuple(FARGATE_CPU_MEMORY),
    "web_cpu": tuple(FARGATE_CPU_MEMORY),
    "log_retention_days": LOG_RETENTION_DAYS,
}

# Context keys that are not settings: CDK's own (feature flags carry '@' or ':'), and ours.
NON_SETTING_CONTEXT_KEYS = frozenset({"config", "acknowledged-issue-numbers", "cli-telemetry"})


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


# JSON's two booleans, and their spelling in CDK context: `-c key=value` always arrives as a string.
BOOLEAN_STRINGS = {"true": True, "false": False}
NOT_A_BOOLEAN = 'true or false (a JSON boolean, or "true"/"false" with -c)'


def _json_bool(value: Any) -> Any:
    """Pydantic's lax mode reads "yes", "on", "1", 1 and 0 as booleans: a boolean setting takes
    only what JSON spells one (``None`` passes through to the field's own check)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value in BOOLEAN_STRINGS:
        return BOOLEAN_STRINGS[value]
    raise ValueError(NOT_A_BOOLEAN)


StrList = Annotated[list[str], BeforeValidator(_split_list)]
StrDict = Annotated[dict[str, str], BeforeValidator(_parse_json_object)]
OptionalStr = Annotated[str | None, BeforeValidator(_none_if_empty)]
OptionalInt = Annotated[int | None, BeforeValidator(_none_if_empty), BeforeValidator(_not_bool)]
Int = Annotated[int, BeforeValidator(_not_bool)]
Float = Annotated[float, BeforeValidator(_not_bool)]
Bool = Annotated[bool, BeforeValidator(_json_bool)]
OptionalBool = Annotated[bool | None, BeforeValidator(_json_bool)]


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


def parse_cidr(value: str) -> str:
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError as error:
        raise ValueError(f"allowed: an IPv4 CIDR with host bits zero, e.g. 10.0.0.0/16 ({error})") from None
    if network.prefixlen == 0:
        raise ValueError("allowed: a CIDR narrower than /0 (no ingress from the whole internet)")
    return str(network)


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
