"""The settings schema: every setting, its default and limits, and the rules across settings.

Validated once, at synth time (``sources.py`` merges the inputs, ``errors.py`` turns pydantic's
errors into one line per problem). Field descriptions feed the README's reference table.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from stacks.config.rules import (
    ACM_CERTIFICATE_ARN,
    ALLOWED_VALUES,
    BOOT_MARGIN_SECONDS,
    BUILD_ARG_NAME,
    EMR_BOOTSTRAP_TIMEOUT_SECONDS,
    EMR_WAL_MIN_RELEASE,
    FARGATE_CPU_MEMORY,
    HTTP_HEADER_NAME,
    LIST_PATTERN_RULES,
    PATTERN_RULES,
    PUBLIC_SUBNET_MASK,
    RESERVED_CONTAINER_PORTS,
    URL_PATH,
    Bool,
    Float,
    Int,
    OptionalBool,
    OptionalInt,
    OptionalStr,
    StrDict,
    StrList,
    parse_cidr,
    private_subnet_mask,
    release_version,
    subnets_fit,
    validate_ecr_repository_name,
    validate_image_tag,
)
from stacks.versions import PINPOINT_VERSION


class SettingError(ValueError):
    """A cross-field problem attributed to one setting (reported like a field error)."""

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        super().__init__(allowed)
        self.key, self.value, self.allowed = key, value, allowed


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
    auto_bootstrap: Bool = Field(
        True,
        description="make deploy runs cdk bootstrap when the account/region is not bootstrapped "
        "(false: refuse and say so).",
    )
    strict_checksums: Bool = Field(
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
        4096,
        description="hbase_mode=embedded: the all-in-one task's CPU units; a Fargate size (256, 512, 1024, 2048, 4096, 8192, 16384).",
    )
    memory_mib: Int = Field(
        16384,
        description="hbase_mode=embedded: the all-in-one task's memory (MiB); a Fargate size for the chosen cpu.",
    )
    ephemeral_storage_gib: Int = Field(
        200,
        ge=21,
        le=200,
        description="hbase_mode=embedded: the all-in-one task's ephemeral storage (GiB, 21-200); holds HBase data.",
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
        "too many for one RegionServer; HBase refuses NUMREGIONS < 2). Only tables created afterwards.",
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
    # The seed's Pinpoint 2.x checked /serverTime; in 3.x the web rewrites that path to the UI's
    # index.html (web VersionPrefixRewriter, v3.0.1 and v3.1.0), which answers 200 even when the
    # app behind it is broken. The JSON endpoint is the web's own ServerTimeController.
    health_check_path: str = Field(
        "/api-public/serverTime",
        description="ALB target health-check path (the web's JSON server time; Pinpoint 3.x serves "
        "index.html for the 2.x path /serverTime whatever the app's state).",
    )
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
    agent_allow_local_profile: Bool = Field(
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
    checksums_pinned_for: StrDict = Field(
        default_factory=dict,
        description="Written by make deploy / make pin-checksums: the file each pinned SHA-512 was taken from "
        "(setting -> file name), so a version change re-pins instead of failing the build.",
    )

    # --- sample application ------------------------------------------------------------------
    sample_app_enabled: Bool = Field(False, description="Deploy a sample Java service wired to the agent.")
    sample_app_name: str = Field(
        "sample-app", description="Pinpoint applicationName of the sample service (1-24 of a-zA-Z0-9._-)."
    )
    sample_app_cpu: Int = Field(512, description="Sample service task CPU units (a Fargate size).")
    sample_app_memory_mib: Int = Field(1024, description="Sample service task memory (MiB, Fargate size).")

    # --- topology: where HBase runs -------------------------------------------------------------
    hbase_mode: Literal["embedded", "emr", "external"] = Field(
        "embedded",
        description="embedded: one all-in-one task (HBase + collector + web); emr: an Amazon EMR HBase "
        "cluster on S3 with N collector tasks and a web service; external: your HBase "
        "(hbase_zookeeper_quorum) with N collectors and a web service.",
    )
    hbase_zookeeper_quorum: StrList = Field(
        default_factory=list,
        description="hbase_mode=external: ZooKeeper servers of your HBase as host:port (a,b or a JSON list).",
    )
    hbase_znode_parent: str = Field(
        "/hbase", description="hbase_mode=external: zookeeper.znode.parent of your HBase."
    )
    hbase_external_cidrs: StrList = Field(
        default_factory=list,
        description="hbase_mode=external: CIDRs of your ZooKeeper servers, HBase master and RegionServers "
        "(the tasks' egress to the quorum's ports, 16000 and 16020); empty means the VPC's CIDR, which reaches "
        "an HBase inside this VPC only: list the CIDRs of one in a peered VPC or on-premises. Never /0.",
    )
    emr_release_label: str = Field(
        "emr-7.13.0",
        description="hbase_mode=emr: Amazon EMR release, 6.x or 7.x (HBase 2.x); 6.15.0 or later with emr_wal. "
        "make deploy checks the instance types against it (ListSupportedInstanceTypes).",
    )
    emr_primary_instance_type: str = Field(
        "m7g.xlarge", description="hbase_mode=emr: primary node instance type (Graviton)."
    )
    emr_core_instance_type: str = Field(
        "m7g.xlarge", description="hbase_mode=emr: core node (RegionServer) instance type (Graviton)."
    )
    emr_core_instance_count: Int = Field(
        2, ge=1, le=50, description="hbase_mode=emr: core nodes (RegionServers), 1-50."
    )
    emr_in_transit_encryption: OptionalBool = Field(
        None,
        description="hbase_mode=emr: EMR in-transit encryption (TLS between the cluster's own services). "
        "Default: on when emr_tls_certificates_s3_uri is set (EMR creates no certificates), else off with a "
        "synth warning. Pinpoint's HBase 2.5 client speaks plain RPC and ZooKeeper either way (README).",
    )
    emr_tls_certificates_s3_uri: OptionalStr = Field(
        None,
        description="hbase_mode=emr with in-transit encryption: s3://bucket/key.zip holding privateKey.pem, "
        "certificateChain.pem (a certificate for the nodes' private DNS names: *.<region>.compute.internal, "
        "*.ec2.internal in us-east-1) and optionally "
        "trustedCertificates.pem; EMR creates no certificates itself.",
    )
    emr_wal: Bool = Field(
        True,
        description="hbase_mode=emr: HBase's write-ahead log in Amazon EMR WAL (a paid AWS service, EMR 6.15+: "
        "unflushed edits survive the loss of nodes or the cluster); false: on the core nodes' HDFS with two "
        "copies (needs emr_core_instance_count >= 2; survives one lost core node).",
    )
    bootstrap_timeout_seconds: OptionalInt = Field(
        None,
        ge=60,
        le=2400,
        description="hbase_mode=emr/external: time the table bootstrap task may take to reach HBase, create "
        f"missing tables and apply TTL changes (60-2400 s); default {EMR_BOOTSTRAP_TIMEOUT_SECONDS} with emr "
        "(pre-split tables on S3 are slow to create), boot_timeout_seconds with external.",
    )
    collector_min_count: Int = Field(
        2,
        ge=1,
        le=50,
        description="hbase_mode=emr/external: fewest collector tasks (autoscaling on CPU), 1-50.",
    )
    collector_max_count: Int = Field(
        6,
        ge=1,
        le=50,
        description="hbase_mode=emr/external: most collector tasks, 1-50 (>= collector_min_count).",
    )
    collector_target_cpu_percent: Int = Field(
        60,
        ge=10,
        le=90,
        description="hbase_mode=emr/external: collector CPU the autoscaling aims at (10-90 %).",
    )
    collector_max_connection_age_seconds: Int = Field(
        300,
        ge=60,
        le=10800,
        description="hbase_mode=emr/external: collectors close each agent connection after this long (gRPC max "
        "connection age, 60-10800 s; upstream's 3 h); agents reconnect and spread over the collectors running "
        "then, new ones included. Autoscaling waits this long after a scale-out before the next.",
    )
    collector_cpu: Int = Field(
        2048, description="hbase_mode=emr/external: collector task CPU units (a Fargate size)."
    )
    collector_memory_mib: Int = Field(
        4096,
        description="hbase_mode=emr/external: collector task memory (MiB, Fargate size for collector_cpu).",
    )
    web_count: Int = Field(
        1, ge=1, le=10, description="hbase_mode=emr/external: web tasks behind the ALB, 1-10."
    )
    web_cpu: Int = Field(1024, description="hbase_mode=emr/external: web task CPU units (a Fargate size).")
    web_memory_mib: Int = Field(
        2048, description="hbase_mode=emr/external: web task memory (MiB, Fargate size for web_cpu)."
    )

    # --- operations: alarms and backups -----------------------------------------------------------
    alarm_email: OptionalStr = Field(
        None, description="E-mail address subscribed to the alarm topic (confirm the subscription mail)."
    )
    alarm_cpu_percent: Int = Field(
        85, ge=1, le=100, description="Alarm when a task's CPU stays above this (%)."
    )
    alarm_memory_percent: Int = Field(
        85, ge=1, le=100, description="Alarm when a task's memory stays above this (%)."
    )
    alarm_ephemeral_storage_percent: Int = Field(
        80,
        ge=1,
        le=100,
        description="hbase_mode=embedded: alarm when the all-in-one task's ephemeral storage (HBase data) is fuller "
        "than this (%).",
    )
    backup_retention_days: Int = Field(
        35,
        ge=1,
        le=36500,
        description="hbase_storage=efs: days AWS Backup keeps each daily backup of HBase data.",
    )

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
        cidr = parse_cidr(value)
        if not 16 <= ipaddress.IPv4Network(cidr).prefixlen <= 24:
            raise ValueError("allowed: a prefix length from /16 to /24")
        return cidr

    @field_validator("collector_allowed_cidrs", "web_allowed_cidrs", "hbase_external_cidrs")
    @classmethod
    def _cidrs(cls, values: list[str]) -> list[str]:
        return [parse_cidr(value) for value in values]

    @field_validator(*LIST_PATTERN_RULES)
    @classmethod
    def _items_match_pattern(cls, values: list[str], info: ValidationInfo) -> list[str]:
        what, pattern, allowed = LIST_PATTERN_RULES[info.field_name]
        for value in values:
            if not pattern.fullmatch(value):
                raise ValueError(f"{value!r} is not {what}; allowed: {allowed}")
        if len(set(values)) != len(values):
            raise ValueError("allowed: each item once")
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

    @field_validator("checksums_pinned_for")
    @classmethod
    def _pinned_for(cls, value: dict[str, str]) -> dict[str, str]:
        for setting, name in value.items():
            if setting != "agent_sha512" and not re.fullmatch(r"[A-Z][A-Z0-9_]*_SHA512", setting):
                raise ValueError(
                    f"key {setting!r} is not a checksum setting; allowed: agent_sha512 or <NAME>_SHA512"
                )
            if not re.fullmatch(r"[A-Za-z0-9._+-]{1,255}", name):
                raise ValueError(f"{name!r} is not a file name; allowed: the downloaded file's name")
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
        _check_task_size("collector_memory_mib", self.collector_cpu, self.collector_memory_mib)
        _check_task_size("web_memory_mib", self.web_cpu, self.web_memory_mib)
        self._check_topology()
        ports = {
            "web_port": self.web_port,
            "collector_agent_port": self.collector_agent_port,
            "collector_stat_port": self.collector_stat_port,
            "collector_span_port": self.collector_span_port,
        }
        seen: dict[int, str] = {}
        for key, port in ports.items():
            if port in RESERVED_CONTAINER_PORTS:
                raise SettingError(
                    key,
                    port,
                    f"it is used inside the container; allowed: any port except {sorted(RESERVED_CONTAINER_PORTS)}",
                )
            if port in seen:
                raise SettingError(key, port, f"it is already used by {seen[port]}; allowed: distinct ports")
            seen[port] = key
        if self.nat_gateways > self.max_azs:
            raise SettingError("nat_gateways", self.nat_gateways, f"allowed: 1 to max_azs ({self.max_azs})")
        self._check_network()
        if self.hbase_efs_file_system_id and self.hbase_storage != "efs":
            raise SettingError(
                "hbase_efs_file_system_id",
                self.hbase_efs_file_system_id,
                "allowed: only with hbase_storage=efs (the HBase data directory is then that file system)",
            )
        if self.certificate_arn and self.region:
            certificate_region = ACM_CERTIFICATE_ARN.fullmatch(self.certificate_arn).group(1)  # type: ignore[union-attr]
            if certificate_region != self.region:
                raise SettingError(
                    "certificate_arn",
                    self.certificate_arn,
                    f"the certificate is in {certificate_region}, the stack in {self.region}; allowed: an ACM "
                    "certificate of the stack's region (an ALB uses certificates of its own region only)",
                )
        if self.image_source == "ecr" and self.image_tag is None:
            raise SettingError(
                "image_tag",
                None,
                "allowed: an image tag such as the one make push-image printed (image_source=ecr needs one)",
            )
        if self.boot_timeout_seconds + BOOT_MARGIN_SECONDS > self.health_check_grace_seconds:
            raise SettingError(
                "health_check_grace_seconds",
                self.health_check_grace_seconds,
                f"allowed: at least boot_timeout_seconds ({self.boot_timeout_seconds}) + "
                f"{BOOT_MARGIN_SECONDS} s, so the image has booted before ECS judges its health",
            )
        if self.agent_profile == "local" and not self.agent_allow_local_profile:
            raise SettingError(
                "agent_profile",
                self.agent_profile,
                "allowed: release; local records HTTP cookies and request bodies into traces "
                "(set agent_allow_local_profile=true to opt in)",
            )
        if self.vpc_id and not (self.account and self.region):
            raise SettingError(
                "vpc_id",
                self.vpc_id,
                "looking up a VPC needs account and region (set them, or CDK_DEFAULT_* via a profile)",
            )
        return self

    def _check_network(self) -> None:
        if self.vpc_id is None:
            for key in ("private_subnet_ids", "private_subnet_group_name"):
                if getattr(self, key):
                    raise SettingError(
                        key,
                        getattr(self, key),
                        "allowed: only with vpc_id (a new VPC's subnets are the stack's own)",
                    )
            prefix = ipaddress.IPv4Network(self.vpc_cidr).prefixlen
            if not subnets_fit(prefix, self.max_azs):
                smallest = next(p for p in range(24, 15, -1) if subnets_fit(p, self.max_azs))
                raise SettingError(
                    "vpc_cidr",
                    self.vpc_cidr,
                    f"too small for max_azs={self.max_azs} (a /{PUBLIC_SUBNET_MASK} public and a "
                    f"/{private_subnet_mask(prefix)} private subnet per AZ); allowed: /{smallest} or larger, "
                    "or fewer max_azs",
                )

    def _check_topology(self) -> None:
        if self.hbase_mode == "external" and not self.hbase_zookeeper_quorum:
            raise SettingError(
                "hbase_zookeeper_quorum",
                [],
                "allowed: the ZooKeeper servers of your HBase as host:port (hbase_mode=external needs them)",
            )
        if self.hbase_mode != "external" and self.hbase_zookeeper_quorum:
            raise SettingError(
                "hbase_zookeeper_quorum",
                self.hbase_zookeeper_quorum,
                f"allowed: only with hbase_mode=external (hbase_mode={self.hbase_mode} runs its own HBase)",
            )
        if self.hbase_external_cidrs and self.hbase_mode != "external":
            raise SettingError(
                "hbase_external_cidrs",
                self.hbase_external_cidrs,
                f"allowed: only with hbase_mode=external (hbase_mode={self.hbase_mode} runs its own HBase)",
            )
        if self.hbase_mode == "emr" and self.hbase_znode_parent != "/hbase":
            raise SettingError(
                "hbase_znode_parent",
                self.hbase_znode_parent,
                "allowed: /hbase with hbase_mode=emr (EMR's HBase uses the default parent)",
            )
        if self.hbase_mode != "embedded" and self.hbase_storage != "ephemeral":
            raise SettingError(
                "hbase_storage",
                self.hbase_storage,
                f"allowed: ephemeral with hbase_mode={self.hbase_mode} (HBase data lives outside the tasks)",
            )
        if self.collector_min_count > self.collector_max_count:
            raise SettingError(
                "collector_max_count",
                self.collector_max_count,
                f"allowed: at least collector_min_count ({self.collector_min_count})",
            )
        self._check_emr_encryption()
        self._check_emr_durability()
        if self.bootstrap_timeout_seconds is not None and self.hbase_mode == "embedded":
            raise SettingError(
                "bootstrap_timeout_seconds",
                self.bootstrap_timeout_seconds,
                "allowed: only with hbase_mode=emr or external (the all-in-one creates its tables within "
                "boot_timeout_seconds)",
            )

    def _check_emr_encryption(self) -> None:
        """EMR's in-transit encryption needs certificates the user provides (PEM zip in S3):
        EMR creates none, and a security configuration without them is rejected."""
        uri = self.emr_tls_certificates_s3_uri
        if uri and (self.hbase_mode != "emr" or self.emr_in_transit_encryption is False):
            raise SettingError(
                "emr_tls_certificates_s3_uri",
                uri,
                "allowed: only with hbase_mode=emr and in-transit encryption (emr_in_transit_encryption unset or true)",
            )
        if self.hbase_mode == "emr" and self.emr_in_transit_encryption and not uri:
            raise SettingError(
                "emr_tls_certificates_s3_uri",
                None,
                "allowed: s3://<bucket>/<key>.zip with the PEM certificates EMR's in-transit encryption "
                "needs (README: hbase_mode=emr), or leave emr_in_transit_encryption unset to run without it",
            )

    def _check_emr_durability(self) -> None:
        """Where the WAL lives decides what a lost node costs (ReleaseGuide emr-hbase-wal,
        emr-hdfs-config): EMR WAL needs 6.15+, two HDFS copies need two core nodes."""
        if self.hbase_mode != "emr":
            return
        if self.emr_wal and release_version(self.emr_release_label) < EMR_WAL_MIN_RELEASE:
            minimum = ".".join(map(str, EMR_WAL_MIN_RELEASE))
            raise SettingError(
                "emr_release_label",
                self.emr_release_label,
                f"allowed with emr_wal=true: emr-{minimum} or later (Amazon EMR WAL starts there), or set "
                "emr_wal=false to keep the WAL on HDFS",
            )
        if not self.emr_wal and self.emr_core_instance_count < 2:
            raise SettingError(
                "emr_core_instance_count",
                self.emr_core_instance_count,
                "allowed with emr_wal=false: 2 or more (the WAL's two HDFS copies need two core nodes), or "
                "emr_wal=true",
            )

    # --- derived values ------------------------------------------------------------------------
    @property
    def collector_ports(self) -> tuple[int, int, int]:
        return (self.collector_agent_port, self.collector_stat_port, self.collector_span_port)

    @property
    def emr_in_transit(self) -> bool:
        """In-transit encryption as the cluster gets it: on exactly when there are certificates."""
        if self.emr_in_transit_encryption is None:
            return self.emr_tls_certificates_s3_uri is not None
        return self.emr_in_transit_encryption

    @property
    def bootstrap_budget_seconds(self) -> int:
        """The table bootstrap task's whole budget (PINPOINT_BOOT_TIMEOUT_SECONDS of its role)."""
        if self.bootstrap_timeout_seconds is not None:
            return self.bootstrap_timeout_seconds
        if self.hbase_mode == "emr":
            return EMR_BOOTSTRAP_TIMEOUT_SECONDS
        return self.boot_timeout_seconds


def _check_task_size(key: str, cpu: int, memory: int) -> None:
    allowed = FARGATE_CPU_MEMORY.get(cpu, ())
    if memory not in allowed:
        low, high = allowed[0], allowed[-1]
        step = allowed[1] - allowed[0]
        raise SettingError(key, memory, f"allowed with cpu={cpu}: {low}-{high} in steps of {step}")
