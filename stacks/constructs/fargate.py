"""Task-level building blocks the Fargate services here share.

Generic: the platform and container logs (also the sample app's). Pinpoint's: the image's
container in any ``PINPOINT_ROLE`` (all-in-one, collector, web, bootstrap), its task security
group, the web's admin password, and the collector's Service Connect registration, so that the
all-in-one service and the distributed topology's services are built from the same pieces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct, IDependable

from stacks.config import BOOT_MARGIN_SECONDS, PlatformConfig
from stacks.constructs.log_groups import log_group
from stacks.constructs.pinpoint_image import pinpoint_container_image
from stacks.nag import acknowledge

CONTAINER_NAME = "pinpoint"
WEB_PORT_NAME = "web"
# Port-mapping names and Cloud Map discovery names must be unique; the client DNS name is shared.
COLLECTOR_PORT_NAMES = ("collector-agent", "collector-stat", "collector-span")
HEALTH_CHECK_COMMAND = "/usr/local/bin/pinpoint-healthcheck"
# ECS refuses a container health check start period above 300 s (HealthCheck.startPeriod).
MAX_START_PERIOD_SECONDS = 300
# The web's admin.password (guards /api/admin/**, passed as a query parameter; default "admin"):
# the image reads it from this variable, which ECS fills from Secrets Manager.
ADMIN_PASSWORD_VARIABLE = "PINPOINT_WEB_ADMIN_PASSWORD"
# The image's entrypoint picks what the container runs from this variable (images/pinpoint).
ROLE_VARIABLE = "PINPOINT_ROLE"


def runtime_platform(config: PlatformConfig) -> ecs.RuntimePlatform:
    """Linux on the configured CPU architecture (ARM64 by default: Graviton Fargate)."""
    return ecs.RuntimePlatform(
        cpu_architecture=ecs.CpuArchitecture.of(config.cpu_architecture),
        operating_system_family=ecs.OperatingSystemFamily.LINUX,
    )


def container_logs(
    scope: Construct,
    construct_id: str,
    *,
    config: PlatformConfig,
    task_definition: ecs.TaskDefinition,
    stream_prefix: str,
) -> ecs.LogDriver:
    """awslogs into a retained-for-``log_retention_days`` group this stack owns.

    The seed's gotcha: tasks fail to start when the execution role cannot create its log group
    (awslogs-create-group). Grant it, scoped to this group only.
    """
    group = log_group(scope, construct_id, config=config)
    task_definition.add_to_execution_role_policy(
        iam.PolicyStatement(actions=["logs:CreateLogGroup"], resources=[group.log_group_arn])
    )
    return ecs.LogDrivers.aws_logs(stream_prefix=stream_prefix, log_group=group)


def pinpoint_task_definition(
    scope: Construct,
    *,
    config: PlatformConfig,
    cpu: int,
    memory_mib: int,
    ephemeral_storage_gib: int | None = None,
    task_role: iam.IRole | None = None,
) -> ecs.FargateTaskDefinition:
    """A Fargate task definition on the configured platform; Fargate's default 20 GiB of
    ephemeral storage unless a role keeps data on it (only the all-in-one's HBase does)."""
    return ecs.FargateTaskDefinition(
        scope,
        "TaskDefinition",
        cpu=cpu,
        memory_limit_mib=memory_mib,
        ephemeral_storage_gib=ephemeral_storage_gib,
        runtime_platform=runtime_platform(config),
        task_role=task_role,
    )


# --- the image's environment, in pieces the roles share (images/pinpoint/README.md) ------------


def web_port_environment(config: PlatformConfig) -> dict[str, str]:
    return {"PINPOINT_WEB_PORT": str(config.web_port)}


def collector_port_environment(config: PlatformConfig) -> dict[str, str]:
    return {
        "PINPOINT_COLLECTOR_AGENT_PORT": str(config.collector_agent_port),
        "PINPOINT_COLLECTOR_STAT_PORT": str(config.collector_stat_port),
        "PINPOINT_COLLECTOR_SPAN_PORT": str(config.collector_span_port),
    }


# Upstream's metadata TTLs (v3.1.0 hbase/scripts/hbase-create.hbase): StringMetaData,
# SqlMetaData_Ver2 and SqlUidMetaData 180 d, ApiMetaData 365 d.
METADATA_TTL_SECONDS = 15552000
API_METADATA_TTL_SECONDS = 31536000


def table_environment(config: PlatformConfig) -> dict[str, str]:
    """What the table bootstrap applies: TTLs of the bulk data (traces, statistics, agent
    events), metadata TTLs that outlive the traces (a call stack shows SQL, strings and API
    names by id from the metadata tables: upstream's TTL, or the trace TTL when that is longer)
    and the pre-split of the uniform tables."""
    ttl_seconds = config.hbase_ttl_days * 86400
    return {
        "PINPOINT_TTL_TRACE_SECONDS": str(ttl_seconds),
        "PINPOINT_TTL_STATISTICS_SECONDS": str(ttl_seconds),
        "PINPOINT_TTL_AGENT_EVENT_SECONDS": str(ttl_seconds),
        "PINPOINT_TTL_METADATA_SECONDS": str(max(METADATA_TTL_SECONDS, ttl_seconds)),
        "PINPOINT_TTL_API_METADATA_SECONDS": str(max(API_METADATA_TTL_SECONDS, ttl_seconds)),
        "PINPOINT_HBASE_UNIFORM_SPLIT_REGIONS": str(config.hbase_split_regions),
    }


def boot_environment(config: PlatformConfig) -> dict[str, str]:
    """The role's whole start must end in this; the schema keeps it BOOT_MARGIN_SECONDS inside
    the service's health-check grace period."""
    return {"PINPOINT_BOOT_TIMEOUT_SECONDS": str(config.boot_timeout_seconds)}


def hbase_client_environment(
    config: PlatformConfig, *, role: str, zookeeper_quorum: str, znode_parent: str, memory_mib: int
) -> dict[str, str]:
    """A role that uses an HBase outside its task (collector, web, bootstrap): where it is.

    ``zookeeper_quorum`` is ``host:port[,host:port...]``; the image maps it to Pinpoint's
    ``hbase.client.host``/``hbase.client.port`` and the parent to ``hbase.client.znode``. The
    memory is stated (a container-level cgroup may be unlimited on Fargate) to size the JVM.
    """
    return {
        ROLE_VARIABLE: role,
        "PINPOINT_HBASE_ZOOKEEPER_QUORUM": zookeeper_quorum,
        "PINPOINT_HBASE_ZNODE_PARENT": znode_parent,
        "CONTAINER_MEMORY_MB": str(memory_mib),
        **boot_environment(config),
    }


def health_check_start_period(config: PlatformConfig) -> int:
    """The container check counts failures only after the boot budget, capped at ECS's 300 s
    (API HealthCheck.startPeriod: 0-300). A longer boot is still covered: the service's grace
    period makes the scheduler ignore "unhealthy Elastic Load Balancing, VPC Lattice, and
    container health checks after a task has first started" (API CreateService)."""
    return min(MAX_START_PERIOD_SECONDS, config.boot_timeout_seconds + BOOT_MARGIN_SECONDS)


def add_pinpoint_container(
    scope: Construct,
    task_definition: ecs.FargateTaskDefinition,
    *,
    config: PlatformConfig,
    environment: Mapping[str, str],
    port_mappings: Sequence[ecs.PortMapping] = (),
    secrets: Mapping[str, ecs.Secret] | None = None,
    health_check: bool = True,
) -> ecs.ContainerDefinition:
    """The Pinpoint image's one container, as every role runs it (construct ids under ``scope``).

    ECS's init is PID 1 (the image carries no tini): it reaps the JVMs' and scripts' children and
    forwards SIGTERM to the supervisor. The image's own health check proves what the role serves
    (its ``PINPOINT_ROLE`` decides what that is); ``health_check=False`` for one-off tasks.
    """
    return task_definition.add_container(
        CONTAINER_NAME,
        image=pinpoint_container_image(scope, config),
        essential=True,
        environment=dict(environment),
        secrets=dict(secrets) if secrets else None,
        linux_parameters=ecs.LinuxParameters(scope, "LinuxParameters", init_process_enabled=True),
        stop_timeout=Duration.seconds(config.stop_timeout_seconds),
        logging=container_logs(
            scope, "Logs", config=config, task_definition=task_definition, stream_prefix="pinpoint"
        ),
        port_mappings=list(port_mappings),
        health_check=(
            ecs.HealthCheck(
                # CMD form: nothing passes through a shell.
                command=["CMD", HEALTH_CHECK_COMMAND],
                interval=Duration.seconds(30),
                timeout=Duration.seconds(10),
                retries=10,
                start_period=Duration.seconds(health_check_start_period(config)),
            )
            if health_check
            else None
        ),
    )


def web_port_mapping(config: PlatformConfig) -> ecs.PortMapping:
    return ecs.PortMapping(container_port=config.web_port, name=WEB_PORT_NAME)


def collector_port_mappings(config: PlatformConfig) -> list[ecs.PortMapping]:
    """The three gRPC ports, named; no app protocol: plain TCP."""
    return [
        ecs.PortMapping(container_port=port, name=name)
        for name, port in zip(COLLECTOR_PORT_NAMES, config.collector_ports, strict=True)
    ]


def collector_service_connect(
    scope: Construct,
    *,
    config: PlatformConfig,
    task_definition: ecs.TaskDefinition,
    namespace: servicediscovery.INamespace,
) -> ecs.ServiceConnectProps:
    """The collector's three ports under one client DNS name (``collector_dns_name``).

    TCP has no per-request timeout, so the agents' long-lived gRPC streams are never cut at 15 s;
    the idle timeout is set on purpose.
    """
    idle = Duration.seconds(config.service_connect_idle_timeout_seconds)
    return ecs.ServiceConnectProps(
        namespace=namespace.namespace_arn,
        log_driver=container_logs(
            scope,
            "ServiceConnectLogs",
            config=config,
            task_definition=task_definition,
            stream_prefix="service-connect",
        ),
        services=[
            ecs.ServiceConnectService(
                port_mapping_name=name,
                discovery_name=f"{config.collector_dns_name}-{name.removeprefix('collector-')}",
                dns_name=config.collector_dns_name,
                port=port,
                idle_timeout=idle,
            )
            for name, port in zip(COLLECTOR_PORT_NAMES, config.collector_ports, strict=True)
        ],
    )


def selected_subnets(vpc: ec2.IVpc, selection: ec2.SubnetSelection) -> list[ec2.ISubnet]:
    """The subnets a selection names (a one-off task's placement, a single-subnet cluster's)."""
    # jsii passes a struct's fields as keyword arguments only.
    return vpc.select_subnets(
        subnets=selection.subnets,
        subnet_type=selection.subnet_type,
        subnet_group_name=selection.subnet_group_name,
        subnet_filters=selection.subnet_filters,
        one_per_az=selection.one_per_az,
        availability_zones=selection.availability_zones,
    ).subnets


class HBaseEndpoint(Protocol):
    """An HBase outside the task (stacks/constructs/emr_hbase.py): where ZooKeeper is, and a way in."""

    zookeeper_quorum: str
    znode_parent: str

    def allow_client(self, group: ec2.SecurityGroup, description: str) -> None: ...


@dataclass(frozen=True)
class HBaseClientTask:
    task_definition: ecs.FargateTaskDefinition
    container: ecs.ContainerDefinition
    security_group: ec2.SecurityGroup


def hbase_client_task(
    scope: Construct,
    *,
    config: PlatformConfig,
    role: str,
    cpu: int,
    memory_mib: int,
    hbase: HBaseEndpoint,
    vpc: ec2.IVpc,
    description: str,
    environment: Mapping[str, str] | None = None,
    port_mappings: Sequence[ecs.PortMapping] = (),
    secrets: Mapping[str, ecs.Secret] | None = None,
    health_check: bool = True,
) -> HBaseClientTask:
    """A task of one distributed role (collector, web, bootstrap): the image in ``role`` pointed at
    ``hbase``, and its own security group, which may reach that HBase (and AWS over HTTPS) only."""
    task_definition = pinpoint_task_definition(scope, config=config, cpu=cpu, memory_mib=memory_mib)
    container = add_pinpoint_container(
        scope,
        task_definition,
        config=config,
        environment={
            **hbase_client_environment(
                config,
                role=role,
                zookeeper_quorum=hbase.zookeeper_quorum,
                znode_parent=hbase.znode_parent,
                memory_mib=memory_mib,
            ),
            **(environment or {}),
        },
        port_mappings=port_mappings,
        secrets=secrets,
        health_check=health_check,
    )
    security_group = task_security_group(scope, vpc=vpc, description=description)
    hbase.allow_client(security_group, f"Pinpoint {role}")
    return HBaseClientTask(task_definition, container, security_group)


def rolling_service(
    scope: Construct,
    *,
    config: PlatformConfig,
    cluster: ecs.ICluster,
    task: HBaseClientTask,
    service_name: str,
    desired_count: int | None,
    subnets: ec2.SubnetSelection,
    after: IDependable,
    service_connect: ecs.ServiceConnectProps | None = None,
) -> ecs.FargateService:
    """A stateless service: a rolling deploy starts new tasks before it stops old ones (min 100 % /
    max 200 %), the circuit breaker rolls back, private subnets, the health-check grace. It starts
    only ``after`` (the table bootstrap: its tasks use tables that must exist)."""
    service = ecs.FargateService(
        scope,
        "Service",
        cluster=cluster,
        task_definition=task.task_definition,
        service_name=service_name,
        desired_count=desired_count,
        min_healthy_percent=100,
        max_healthy_percent=200,
        circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
        health_check_grace_period=Duration.seconds(config.health_check_grace_seconds),
        assign_public_ip=False,
        vpc_subnets=subnets,
        security_groups=[task.security_group],
        service_connect_configuration=service_connect,
    )
    service.node.add_dependency(after)
    return service


def task_security_group(scope: Construct, *, vpc: ec2.IVpc, description: str) -> ec2.SecurityGroup:
    """A task's group: no ingress yet, egress only HTTPS (image pulls from ECR and S3, CloudWatch
    Logs, Secrets Manager and the ECS/Service Connect agents)."""
    group = ec2.SecurityGroup(
        scope, "SecurityGroup", vpc=vpc, description=description, allow_all_outbound=False
    )
    group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "AWS APIs over HTTPS")
    return group


def admin_password_secret(scope: Construct) -> secretsmanager.Secret:
    """The web's admin.password, generated; ECS hands it to the container as a secret."""
    secret = secretsmanager.Secret(
        scope,
        "WebAdminPassword",
        description="Pinpoint web admin.password (the /api/admin/** query parameter)",
        generate_secret_string=secretsmanager.SecretStringGenerator(
            # Sent as a query parameter: letters and digits only, nothing to URL-encode.
            exclude_punctuation=True,
            include_space=False,
            password_length=32,
        ),
    )
    acknowledge(
        secret,
        "AwsSolutions::AwsSolutions-SMG4",
        "Pinpoint web reads admin.password once at start and AWS offers no rotation function for it; "
        "rotating means putting a new value and forcing a new deployment (README), which a rotation "
        "schedule would not do.",
    )
    return secret


def admin_password_secrets(secret: secretsmanager.ISecret) -> dict[str, ecs.Secret]:
    """The container's secrets: the admin password (grants the execution role read on it only)."""
    return {ADMIN_PASSWORD_VARIABLE: ecs.Secret.from_secrets_manager(secret)}


def acknowledge_pinpoint_task(task_definition: ecs.TaskDefinition, environment_reason: str) -> None:
    """The two findings every Pinpoint task definition carries: ECS2 (why its environment holds
    no secret) and the execution role's one unscoped action."""
    acknowledge(task_definition, "AwsSolutions::AwsSolutions-ECS2", environment_reason)
    acknowledge(
        task_definition.obtain_execution_role(),
        "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
        "ecr:GetAuthorizationToken has no resource-level permissions; every other statement of the "
        "execution role is scoped to this stack's repository and log groups.",
    )
