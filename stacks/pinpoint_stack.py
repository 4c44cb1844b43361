"""The platform stack: composes one construct per capability; no logic of its own."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Environment, Stack
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from stacks.config import PlatformConfig
from stacks.constructs import collector_load_balancer
from stacks.constructs.agent_distribution import (
    APPLICATION_NAME_PLACEHOLDER,
    AgentDistribution,
    agent_jar_path,
    apm_opts,
)
from stacks.constructs.agent_volume import AgentVolume
from stacks.constructs.backup import HBaseBackup
from stacks.constructs.cluster import PinpointCluster
from stacks.constructs.collector_load_balancer import CollectorLoadBalancer
from stacks.constructs.load_balancer import WebLoadBalancer
from stacks.constructs.monitoring import Monitoring
from stacks.constructs.network import Network
from stacks.constructs.pinpoint_service import PinpointService
from stacks.constructs.sample_app_service import SampleAppService


class PinpointStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: PlatformConfig) -> None:
        super().__init__(
            scope,
            construct_id,
            stack_name=config.stack_name,
            env=Environment(account=config.account, region=config.region),
            description="Pinpoint APM (HBase + collector + web) on ECS Fargate - pinpoint-on-fargate",
        )
        network = Network(self, "Network", config=config)
        cluster = PinpointCluster(self, "Cluster", config=config, vpc=network.vpc)
        pinpoint = PinpointService(
            self,
            "Pinpoint",
            config=config,
            cluster=cluster.cluster,
            namespace=cluster.namespace,
            subnets=network.private_subnets,
            one_per_az=network.one_per_az,
        )
        web = WebLoadBalancer(
            self,
            "Web",
            config=config,
            vpc=network.vpc,
            vpc_cidr=network.cidr,
            subnets=network.one_per_az,
            service=pinpoint.service,
        )

        # Application services join this group: it may reach the collector and mount the agent.
        self.application_security_group = ec2.SecurityGroup(
            self,
            "ApplicationSecurityGroup",
            vpc=network.vpc,
            description="Attach to services that run the Pinpoint agent",
        )
        pinpoint.allow_collector_from(self.application_security_group, "Pinpoint agents")
        # Agents outside Service Connect: a stable address, only when sources are configured.
        self.collector_nlb: CollectorLoadBalancer | None = None
        if collector_load_balancer.wanted(config):
            self.collector_nlb = CollectorLoadBalancer(
                self,
                "CollectorNlb",
                config=config,
                vpc=network.vpc,
                one_per_az=network.one_per_az,
                service=pinpoint.service,
                task_security_group=pinpoint.security_group,
            )

        agent_volume = AgentVolume(self, "AgentVolume", vpc=network.vpc, subnets=network.one_per_az)
        agent_volume.allow_mount_from(self.application_security_group, "Agent mounts from applications")
        agent_distribution = AgentDistribution(
            self,
            "AgentDistribution",
            config=config,
            vpc=network.vpc,
            subnets=network.private_subnets,
            agent_volume=agent_volume,
        )
        # The distributor is the agent file system's one writer; apps only read (by IAM).
        agent_volume.restrict_to(agent_distribution.role, others_may_read=True)
        self.sample_app: SampleAppService | None = None
        if config.sample_app_enabled:
            self.sample_app = SampleAppService(
                self,
                "SampleApp",
                config=config,
                cluster=cluster.cluster,
                namespace=cluster.namespace,
                subnets=network.private_subnets,
                security_group=self.application_security_group,
                agent_volume=agent_volume,
                agent_distribution=agent_distribution,
            )
            # A task resolves only the Service Connect endpoints that existed when it started:
            # a client created in the same deploy must start after the collector's service.
            self.sample_app.service.node.add_dependency(pinpoint.service)

        # Operations: alarms to one topic and a dashboard; daily backups of HBase data on EFS.
        self.monitoring = Monitoring(self, "Monitoring", config=config)
        self.monitoring.watch_service(pinpoint.service)
        self.monitoring.watch_target_group(
            web.target_group,
            web.load_balancer,
            label="web",
            grace=Duration.seconds(config.health_check_grace_seconds),
        )
        self.monitoring.watch_function(
            agent_distribution.function,
            label="agent-distribution",
            log_group=agent_distribution.function.log_group,
        )
        self.hbase_backup: HBaseBackup | None = None
        if pinpoint.hbase_volume is not None:
            self.hbase_backup = HBaseBackup(
                self, "HBaseBackup", config=config, file_system=pinpoint.hbase_volume.file_system
            )

        self.network, self.cluster, self.pinpoint, self.web, self.agent_volume = (
            network,
            cluster,
            pinpoint,
            web,
            agent_volume,
        )
        self.agent_distribution = agent_distribution
        self._outputs(config)

    def _outputs(self, config: PlatformConfig) -> None:
        outputs = {
            "WebUrl": (self.web.url, "Pinpoint web (internal ALB)"),
            "CollectorDnsName": (config.collector_dns_name, "Service Connect DNS name agents use"),
            "CollectorPorts": (",".join(map(str, config.collector_ports)), "agent+metadata, stat, span"),
            "NamespaceName": (config.namespace_name, "Service Connect namespace apps must join"),
            "NamespaceArn": (self.cluster.namespace.namespace_arn, "Service Connect namespace ARN"),
            "ClusterName": (self.cluster.cluster.cluster_name, "ECS cluster"),
            "AgentFileSystemId": (self.agent_volume.file_system.file_system_id, "EFS holding the agent"),
            "AgentAccessPointId": (
                self.agent_volume.access_point.access_point_id,
                "EFS access point to mount",
            ),
            "AgentMountPolicyArn": (
                self.agent_volume.mount_policy.managed_policy_arn,
                "Attach to app task roles for a read-only agent mount",
            ),
            "AgentBundle": (
                self.agent_distribution.bundle_id,
                "Agent bundle behind <mount>/current (versions/<this>)",
            ),
            "AgentJavaagentPath": (
                agent_jar_path(config.agent_mount_path),
                "-javaagent path when the access point is mounted at agent_mount_path",
            ),
            "ApmOpts": (
                apm_opts(config.agent_mount_path, APPLICATION_NAME_PLACEHOLDER),
                f"APM_OPTS for an app service; replace {APPLICATION_NAME_PLACEHOLDER} (1-24 of a-zA-Z0-9._-)",
            ),
            "PinpointServiceName": (self.pinpoint.service.service_name, "The all-in-one ECS service"),
            "WebAdminSecretArn": (
                self.pinpoint.admin_secret.secret_arn,
                "Secrets Manager secret holding the web's admin.password",
            ),
            "ApplicationSecurityGroupId": (
                self.application_security_group.security_group_id,
                "Attach to app services: collector + EFS access",
            ),
            "AlarmTopicArn": (self.monitoring.topic.topic_arn, "SNS topic every alarm notifies"),
            "DashboardName": (self.monitoring.dashboard.dashboard_name, "CloudWatch dashboard"),
            "WebTargetGroupArn": (self.web.target_group.target_group_arn, "ALB target group of Pinpoint web"),
        }
        if self.collector_nlb is not None:
            outputs["CollectorNlbDnsName"] = (
                self.collector_nlb.load_balancer.load_balancer_dns_name,
                "Collector address for agents outside Service Connect (profiler.transport.grpc.collector.ip)",
            )
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)
