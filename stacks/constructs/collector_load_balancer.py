"""A stable collector address for agents outside Service Connect: an internal NLB.

Only ECS services in the namespace resolve the Service Connect name, and the task's own IP changes
with every task. Agents on EC2, Lambda or on-premises (``collector_allowed_cidrs`` /
``collector_allowed_security_group_ids``) get this NLB instead: private subnets (one per AZ),
TCP listeners on the three collector ports forwarding to the all-in-one task's container ports
(IP targets registered by ECS), its own security group admitting only the configured sources,
and the task admitting the NLB. Agents set ``profiler.transport.grpc.collector.ip`` to the
``CollectorNlbDnsName`` output.

TCP passes the agents' gRPC streams through untouched; the agent pings every 30 s
(``profiler.transport.grpc.*.sender.keepalive.time.millis=30000`` in pinpoint-root.config,
v3.1.0), well inside the NLB's 350 s TCP idle timeout.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from constructs import Construct

from stacks.config import PlatformConfig
from stacks.constructs.fargate import COLLECTOR_PORT_NAMES, CONTAINER_NAME
from stacks.nag import acknowledge


def wanted(config: PlatformConfig) -> bool:
    """The NLB exists only for configured outside sources."""
    return bool(config.collector_allowed_cidrs or config.collector_allowed_security_group_ids)


class CollectorLoadBalancer(Construct):
    """Exposes ``load_balancer`` and ``security_group``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        vpc: ec2.IVpc,
        one_per_az: ec2.SubnetSelection,
        service: ecs.FargateService,
        task_security_group: ec2.ISecurityGroup,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Pinpoint collector NLB: agents outside Service Connect (configured sources only)",
            allow_all_outbound=False,
        )
        self.load_balancer = elbv2.NetworkLoadBalancer(
            self,
            "Nlb",
            vpc=vpc,
            internet_facing=False,
            vpc_subnets=one_per_az,  # a load balancer takes one subnet per AZ
            security_groups=[self.security_group],
            # The one task lives in one AZ; every NLB node must reach it.
            cross_zone_enabled=True,
        )
        peers = [ec2.Peer.ipv4(cidr) for cidr in config.collector_allowed_cidrs]
        peers += [
            ec2.Peer.security_group_id(group_id) for group_id in config.collector_allowed_security_group_ids
        ]
        for name, port in zip(COLLECTOR_PORT_NAMES, config.collector_ports, strict=True):
            listener = self.load_balancer.add_listener(name, port=port, protocol=elbv2.Protocol.TCP)
            listener.add_targets(
                f"{name}-targets",
                port=port,
                protocol=elbv2.Protocol.TCP,
                targets=[service.load_balancer_target(container_name=CONTAINER_NAME, container_port=port)],
                deregistration_delay=Duration.seconds(30),
                health_check=elbv2.HealthCheck(
                    protocol=elbv2.Protocol.TCP,
                    interval=Duration.seconds(30),
                    healthy_threshold_count=2,
                    unhealthy_threshold_count=3,
                ),
            )
            for peer in peers:
                self.security_group.add_ingress_rule(
                    peer, ec2.Port.tcp(port), "Pinpoint agents outside Service Connect"
                )
            # Egress from the NLB to the task and the task's ingress from the NLB (traffic and
            # health checks; IP targets see the NLB's address, client IP preservation is off).
            self.load_balancer.connections.allow_to(task_security_group, ec2.Port.tcp(port), "Collector NLB")

        acknowledge(
            self.load_balancer,
            "AwsSolutions::AwsSolutions-ELB2",
            "NLB access logs are written only for TLS listeners; these are TCP pass-through of the agents' "
            "gRPC, so there is nothing to log (flow logs cover a new VPC).",
        )
