"""ECS cluster with Container Insights and the Service Connect namespace."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from stacks.config import PlatformConfig
from stacks.nag import acknowledge

_INSIGHTS = {
    "enabled": ecs.ContainerInsights.ENABLED,
    "enhanced": ecs.ContainerInsights.ENHANCED,
    "disabled": ecs.ContainerInsights.DISABLED,
}


class PinpointCluster(Construct):
    """Exposes ``cluster`` and ``namespace`` (an HTTP Cloud Map namespace for Service Connect).

    Only ECS services that join Service Connect in this namespace can resolve the collector's
    DNS name, so application services must be in this cluster's namespace (see the README).
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: PlatformConfig, vpc: ec2.IVpc) -> None:
        super().__init__(scope, construct_id)
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=vpc,
            cluster_name=config.name_prefix,
            container_insights_v2=_INSIGHTS[config.container_insights],
        )
        if config.container_insights == "disabled":
            acknowledge(
                self.cluster,
                "AwsSolutions::AwsSolutions-ECS4",
                "Container Insights is off because the settings say container_insights=disabled (a cost "
                "choice); the stack then drops the ephemeral-storage alarm and synth warns about it.",
            )
        self.namespace: servicediscovery.INamespace = self.cluster.add_default_cloud_map_namespace(
            name=config.namespace_name,
            type=servicediscovery.NamespaceType.HTTP,
            use_for_service_connect=True,
        )
