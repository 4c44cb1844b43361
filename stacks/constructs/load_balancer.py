"""Internal ALB in the private subnets in front of Pinpoint web."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.config import PlatformConfig
from stacks.constructs.fargate import CONTAINER_NAME
from stacks.nag import acknowledge


class WebLoadBalancer(Construct):
    """Exposes ``load_balancer``, ``target_group``, ``security_group`` and ``url``.

    Listeners are created with ``open=False``: CDK's default would add 0.0.0.0/0 ingress.
    Only the configured CIDRs (default: the VPC's own) and security groups may connect.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        vpc: ec2.IVpc,
        vpc_cidr: str,
        subnets: ec2.SubnetSelection,
        service: ecs.FargateService,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Pinpoint web ALB: only configured sources",
            allow_all_outbound=False,  # CDK adds egress to the targets' port only
        )
        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "Alb",
            vpc=vpc,
            internet_facing=False,
            vpc_subnets=subnets,
            security_group=self.security_group,
            drop_invalid_header_fields=True,
        )
        # ALB access logs only support SSE-S3.
        self.access_log_bucket = retained_log_bucket(self, "AccessLogs", config=config)
        self.load_balancer.log_access_logs(self.access_log_bucket)
        acknowledge(
            self.access_log_bucket,
            "AwsSolutions::AwsSolutions-S1",
            "This bucket only receives the ALB's access logs; logging its own accesses to another bucket "
            "would need a second bucket with the same finding.",
        )

        self.target_group = target_group = elbv2.ApplicationTargetGroup(
            self,
            "WebTargets",
            vpc=vpc,
            port=config.web_port,
            protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.IP,
            deregistration_delay=Duration.seconds(30),
            health_check=elbv2.HealthCheck(
                path=config.health_check_path,
                healthy_http_codes="200",
                interval=Duration.seconds(30),
                timeout=Duration.seconds(10),
                healthy_threshold_count=2,
                unhealthy_threshold_count=5,
            ),
            targets=[
                service.load_balancer_target(container_name=CONTAINER_NAME, container_port=config.web_port)
            ],
        )

        ports = [80]
        if config.certificate_arn:
            ports.append(443)
            self.load_balancer.add_listener(
                "Https",
                port=443,
                protocol=elbv2.ApplicationProtocol.HTTPS,
                open=False,
                certificates=[elbv2.ListenerCertificate.from_arn(config.certificate_arn)],
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
                default_target_groups=[target_group],
            )
            self.load_balancer.add_redirect(source_port=80, target_port=443, open=False)
            self.url = f"https://{self.load_balancer.load_balancer_dns_name}"
        else:
            self.load_balancer.add_listener(
                "Http",
                port=80,
                protocol=elbv2.ApplicationProtocol.HTTP,
                open=False,
                default_target_groups=[target_group],
            )
            self.url = f"http://{self.load_balancer.load_balancer_dns_name}"

        peers = [ec2.Peer.ipv4(cidr) for cidr in config.web_allowed_cidrs] or [ec2.Peer.ipv4(vpc_cidr)]
        peers += [ec2.Peer.security_group_id(group_id) for group_id in config.web_allowed_security_group_ids]
        for peer in peers:
            for port in ports:
                self.security_group.add_ingress_rule(peer, ec2.Port.tcp(port), "Pinpoint web users")


def retained_log_bucket(scope: Construct, construct_id: str, *, config: PlatformConfig) -> s3.Bucket:
    """A private, TLS-only, SSE-S3 bucket for logs other services deliver (ALB access logs, EMR
    logs, S3 server access logs: all of them write to SSE-S3 only), expiring objects after
    ``log_retention_days``. Kept on stack deletion: logs are evidence."""
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(max(config.log_retention_days, 1)))],
        removal_policy=RemovalPolicy.RETAIN,
    )
