"""The platform stack: composes one construct per capability; no logic of its own.

``hbase_mode`` picks the topology: ``embedded`` is one all-in-one task; ``emr`` and ``external``
are N collectors and a web service on an HBase outside the tasks (an EMR cluster the stack
creates, or the user's), with the tables bootstrapped first. Everything applications see is the
same in every mode: the Service Connect name and ports, the agent on EFS, APM_OPTS, the ALB.
"""

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
from stacks.constructs.collector_service import CollectorService
from stacks.constructs.emr_hbase import EmrHBase, ExternalHBase
from stacks.constructs.fargate import HBaseEndpoint, selected_subnets
from stacks.constructs.load_balancer import WebLoadBalancer
from stacks.constructs.monitoring import Monitoring
from stacks.constructs.network import Network
from stacks.constructs.pinpoint_service import PinpointService
from stacks.constructs.sample_app_service import SampleAppService
from stacks.constructs.table_bootstrap import TableBootstrap
from stacks.constructs.web_service import WebService


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
        self.pinpoint: PinpointService | None = None
        self.collectors: CollectorService | None = None
        self.web_service: WebService | None = None
        self.emr: EmrHBase | None = None
        self.table_bootstrap: TableBootstrap | None = None
        if config.hbase_mode == "embedded":
            self.pinpoint = PinpointService(
                self,
                "Pinpoint",
                config=config,
                cluster=cluster.cluster,
                namespace=cluster.namespace,
                subnets=network.private_subnets,
                one_per_az=network.one_per_az,
            )
            collector: PinpointService | CollectorService = self.pinpoint
            web_target, self.admin_secret = self.pinpoint.service, self.pinpoint.admin_secret
        else:
            collector = self._distributed(config, network, cluster)
            assert self.web_service is not None
            web_target, self.admin_secret = self.web_service.service, self.web_service.admin_secret
        web = WebLoadBalancer(
            self,
            "Web",
            config=config,
            vpc=network.vpc,
            vpc_cidr=network.cidr,
            subnets=network.one_per_az,
            service=web_target,
        )

        # Application services join this group: it may reach the collector and mount the agent.
        self.application_security_group = ec2.SecurityGroup(
            self,
            "ApplicationSecurityGroup",
            vpc=network.vpc,
            description="Attach to services that run the Pinpoint agent",
        )
        collector.allow_collector_from(self.application_security_group, "Pinpoint agents")
        # Agents outside Service Connect: a stable address, only when sources are configured.
        self.collector_nlb: CollectorLoadBalancer | None = None
        if collector_load_balancer.wanted(config):
            self.collector_nlb = CollectorLoadBalancer(
                self,
                "CollectorNlb",
                config=config,
                vpc=network.vpc,
                one_per_az=network.one_per_az,
                service=collector.service,
                task_security_group=collector.security_group,
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
            self.sample_app.service.node.add_dependency(collector.service)

        # Operations: alarms and notifications to one topic, a dashboard; daily backups of HBase
        # data on EFS.
        self.monitoring = Monitoring(self, "Monitoring", config=config)
        if self.pinpoint is not None:
            self.monitoring.watch_service(self.pinpoint.service)
            self.monitoring.notifications.task_stops(
                self.pinpoint.service, hbase_data_lost=config.hbase_storage == "ephemeral"
            )
        else:
            assert self.collectors is not None
            assert self.web_service is not None
            # Nothing is stored on these tasks' disks: no ephemeral-storage alarm. HBase is outside
            # them: its failures show in their logs.
            for label, service in (("collector", self.collectors.service), ("web", self.web_service.service)):
                self.monitoring.watch_service(service, label=label, ephemeral_storage=False)
                self.monitoring.watch_hbase_client(service, label=label)
            if self.emr is not None:
                self.monitoring.notifications.emr_cluster(self.emr.cluster.ref)
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
        if self.pinpoint is not None and self.pinpoint.hbase_volume is not None:
            self.hbase_backup = HBaseBackup(
                self, "HBaseBackup", config=config, file_system=self.pinpoint.hbase_volume.file_system
            )
            self.monitoring.notifications.backup_jobs(self.hbase_backup.vault.backup_vault_name)

        self.network, self.cluster, self.collector, self.web, self.agent_volume = (
            network,
            cluster,
            collector,
            web,
            agent_volume,
        )
        self.agent_distribution = agent_distribution
        self._outputs(config)

    def _distributed(
        self, config: PlatformConfig, network: Network, cluster: PinpointCluster
    ) -> CollectorService:
        """HBase outside the tasks (EMR or the user's), the table bootstrap, then the collectors
        and the web, which start only after it."""
        hbase: HBaseEndpoint
        if config.hbase_mode == "emr":
            (subnet, *_) = selected_subnets(network.vpc, network.one_per_az)
            self.emr = EmrHBase(self, "EmrHBase", config=config, vpc=network.vpc, subnet=subnet)
            hbase = self.emr
        else:
            hbase = ExternalHBase(config, vpc_cidr=network.cidr)
        self.table_bootstrap = TableBootstrap(
            self,
            "TableBootstrap",
            config=config,
            cluster=cluster.cluster,
            subnets=network.private_subnets,
            hbase=hbase,
        )
        if self.emr is not None:
            # Termination protection once the tables exist: a failed first deploy still rolls back.
            self.emr.protect_after(self.table_bootstrap.resource)
        self.collectors = CollectorService(
            self,
            "Collector",
            config=config,
            cluster=cluster.cluster,
            namespace=cluster.namespace,
            subnets=network.private_subnets,
            hbase=hbase,
            tables=self.table_bootstrap.resource,
        )
        self.web_service = WebService(
            self,
            "WebService",
            config=config,
            cluster=cluster.cluster,
            subnets=network.private_subnets,
            hbase=hbase,
            tables=self.table_bootstrap.resource,
        )
        return self.collectors

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
            "HBaseMode": (config.hbase_mode, "Where HBase runs: embedded, emr or external"),
            "WebAdminSecretArn": (
                self.admin_secret.secret_arn,
                "Secrets Manager secret holding the web's admin.password",
            ),
            "ApplicationSecurityGroupId": (
                self.application_security_group.security_group_id,
                "Attach to app services: collector + EFS access",
            ),
            "AlarmTopicArn": (
                self.monitoring.topic.topic_arn,
                "SNS topic every alarm and notification goes to",
            ),
            # make status reads exactly these (AlarmNamePrefix would match other deployments' too).
            "AlarmNames": (",".join(self.monitoring.alarms), "This stack's CloudWatch alarms"),
            "DashboardName": (self.monitoring.dashboard.dashboard_name, "CloudWatch dashboard"),
            "WebTargetGroupArn": (self.web.target_group.target_group_arn, "ALB target group of Pinpoint web"),
        }
        if self.pinpoint is not None:
            outputs["PinpointServiceName"] = (
                self.pinpoint.service.service_name,
                "The all-in-one ECS service",
            )
        if self.collectors is not None and self.web_service is not None:
            outputs["CollectorServiceName"] = (
                self.collectors.service.service_name,
                "The collectors' ECS service",
            )
            outputs["WebServiceName"] = (self.web_service.service.service_name, "The web's ECS service")
        if self.emr is not None:
            outputs["EmrClusterId"] = (
                self.emr.cluster.ref,
                "The EMR cluster running HBase (its data is in S3)",
            )
            outputs["EmrHBaseRootDir"] = (
                f"s3://{self.emr.data_bucket.bucket_name}/{self.emr.root_dir}",
                "hbase.rootdir of this cluster (a cluster that replaces it gets another)",
            )
        if self.hbase_backup is not None:
            outputs["HBaseBackupVaultName"] = (
                self.hbase_backup.vault.backup_vault_name,
                "AWS Backup vault of the HBase data's daily backups",
            )
            outputs["HBaseRestoreRoleArn"] = (
                self.hbase_backup.restore_role.role_arn,
                "Role to pass to AWS Backup restore jobs (AWSBackupServiceRolePolicyForRestores)",
            )
        if config.hbase_mode == "external":
            # Your HBase's firewalls must admit these (ZooKeeper, 16000, 16020): README hbase_mode=external.
            assert self.collectors is not None
            assert self.web_service is not None
            assert self.table_bootstrap is not None
            for name, group, what in (
                ("CollectorSecurityGroupId", self.collectors.security_group, "collector tasks"),
                ("WebSecurityGroupId", self.web_service.security_group, "web tasks"),
                (
                    "TableBootstrapSecurityGroupId",
                    self.table_bootstrap.security_group,
                    "table bootstrap task",
                ),
            ):
                outputs[name] = (
                    group.security_group_id,
                    f"Security group of the {what}: admit it into your HBase",
                )
        if self.collector_nlb is not None:
            outputs["CollectorNlbDnsName"] = (
                self.collector_nlb.load_balancer.load_balancer_dns_name,
                "Collector address for agents outside Service Connect (profiler.transport.grpc.collector.ip)",
            )
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)
