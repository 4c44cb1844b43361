"""Network: a new VPC (private subnets with egress, flow logs) or an existing one by id."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from stacks.config import PlatformConfig
from stacks.constructs.log_groups import log_group


class Network(Construct):
    """Exposes ``vpc``, ``cidr`` and ``private_subnets`` (where every task, the ALB and EFS live)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PlatformConfig) -> None:
        super().__init__(scope, construct_id)
        if config.vpc_id:
            # An existing VPC is the owner's: we neither add flow logs nor endpoints to it.
            self.vpc: ec2.IVpc = ec2.Vpc.from_lookup(self, "Vpc", vpc_id=config.vpc_id)
            self.cidr = self.vpc.vpc_cidr_block  # concrete: lookups resolve at synth
        else:
            self.vpc = self._new_vpc(config)
            # The literal (not the Fn::GetAtt token) so rules and cdk-nag can reason about it.
            self.cidr = config.vpc_cidr
        self.private_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)

    def _new_vpc(self, config: PlatformConfig) -> ec2.Vpc:
        flow_log_group = log_group(self, "FlowLogs", config=config)
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(config.vpc_cidr),
            max_azs=config.max_azs,
            nat_gateways=config.nat_gateways,
            # Public subnets only hold the NAT gateways; nothing of ours gets a public IP.
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public",
                    subnet_type=ec2.SubnetType.PUBLIC,
                    cidr_mask=26,
                    map_public_ip_on_launch=False,
                ),
                ec2.SubnetConfiguration(
                    name="private",
                    subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS,
                    cidr_mask=_private_mask(config),
                ),
            ],
            flow_logs={
                "all": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        # Image layers come from S3: a free gateway endpoint keeps them off the NAT bill.
        vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        return vpc


def _private_mask(config: PlatformConfig) -> int:
    """Give the private subnets as much room as the VPC allows (at least /27, at most /20)."""
    prefix = int(config.vpc_cidr.split("/")[1])
    return max(20, min(27, prefix + 2))
