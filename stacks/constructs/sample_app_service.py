"""An optional sample Java service wired to Pinpoint exactly as a user's own service would be.

It is the reference for attaching an existing service (docs/agent.md): same cluster namespace
as a Service Connect *client* (so ``pinpoint:9991-9993`` resolves), the application security
group (allowed into the collector ports and NFS, nothing wider), the agent access point mounted
read-only with transit encryption and IAM authorization, and APM_OPTS naming the agent jar and
the application; the image's entrypoint adds a per-task agentId.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from stacks.config import REPO_ROOT, PlatformConfig
from stacks.constructs.agent_distribution import AgentDistribution, apm_opts
from stacks.constructs.agent_volume import AgentVolume
from stacks.constructs.fargate import container_logs, runtime_platform
from stacks.constructs.pinpoint_image import PLATFORMS
from stacks.nag import acknowledge

APP_IMAGE_DIR = REPO_ROOT / "images" / "app"
CONTAINER_NAME = "app"
AGENT_VOLUME_NAME = "pinpoint-agent"
APP_PORT = 8080


class SampleAppService(Construct):
    """Exposes ``service``, ``task_definition`` and ``container``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        cluster: ecs.ICluster,
        namespace: servicediscovery.INamespace,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        agent_volume: AgentVolume,
        agent_distribution: AgentDistribution,
    ) -> None:
        super().__init__(scope, construct_id)
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "TaskDefinition",
            cpu=config.sample_app_cpu,
            memory_limit_mib=config.sample_app_memory_mib,
            runtime_platform=runtime_platform(config),
            # Transit encryption + IAM authorization through the access point (agent_volume.py).
            volumes=[agent_volume.volume(AGENT_VOLUME_NAME)],
        )
        # IAM authorization is checked against the TASK role: the same managed policy users
        # attach to their own services' task roles.
        self.task_definition.task_role.add_managed_policy(agent_volume.mount_policy)

        self.container = self.task_definition.add_container(
            CONTAINER_NAME,
            image=ecs.ContainerImage.from_asset(
                str(APP_IMAGE_DIR),
                file="sample/Dockerfile",
                platform=PLATFORMS[config.cpu_architecture],
                exclude=["Dockerfile"],  # the CI template; not part of this build
            ),
            essential=True,
            environment={
                "APM_OPTS": apm_opts(config.agent_mount_path, config.sample_app_name),
                # Size the heap from the task, leaving room for the agent's off-heap buffers.
                "JAVA_OPTS": "-XX:MaxRAMPercentage=70",
            },
            logging=container_logs(
                self,
                "Logs",
                config=config,
                task_definition=self.task_definition,
                stream_prefix=CONTAINER_NAME,
            ),
            port_mappings=[ecs.PortMapping(container_port=APP_PORT, name="http")],
        )
        self.container.add_mount_points(
            ecs.MountPoint(
                source_volume=AGENT_VOLUME_NAME, container_path=config.agent_mount_path, read_only=True
            )
        )

        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=cluster,
            task_definition=self.task_definition,
            service_name=f"{config.name_prefix}-{config.sample_app_name}".lower()[:255],
            desired_count=1,
            min_healthy_percent=100,
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            assign_public_ip=False,
            vpc_subnets=subnets,
            security_groups=[security_group],
            # Client-only Service Connect (no services): the task gets the namespace's names,
            # among them the collector's, and publishes nothing.
            service_connect_configuration=ecs.ServiceConnectProps(
                namespace=namespace.namespace_arn,
                log_driver=container_logs(
                    self,
                    "ServiceConnectLogs",
                    config=config,
                    task_definition=self.task_definition,
                    stream_prefix="service-connect",
                ),
            ),
        )
        # Start only after the agent is on the volume: the first task then runs with it.
        self.service.node.add_dependency(agent_distribution.resource)

        acknowledge(
            self.task_definition,
            "AwsSolutions::AwsSolutions-ECS2",
            "The environment holds the agent path, the application name and heap sizing; no secrets.",
        )
        acknowledge(
            self.task_definition.obtain_execution_role(),
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource-level permissions; the role's other statements are "
            "scoped to the asset repository and this service's log group.",
        )
