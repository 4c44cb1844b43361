"""Network: a new VPC (private subnets with egress, flow logs) or an existing one by id.

Two subnet selections come out of it:

* ``private_subnets``: every chosen private subnet, for tasks and the distributor Lambda;
* ``one_per_az``: the same subnets, at most one per AZ, for what allows only one per AZ: EFS
  mount targets (a second one in an AZ fails with MountTargetConflict) and load balancers
  (one subnet per AZ). An imported VPC may have several private subnets in one AZ, and an
  explicit ``SubnetSelection`` returns them all: EFS's own one-per-AZ default is lost as soon as
  a selection is passed, so it is stated here.
"""

from __future__ import annotations

import re

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from stacks.config import PUBLIC_SUBNET_MASK, ConfigError, PlatformConfig, echo, private_subnet_mask
from stacks.constructs.log_groups import log_group

# What Vpc.from_lookup returns while the lookup is not cached yet (aws-cdk-lib's dummy VPC); the
# CLI then looks the VPC up and synthesizes again, so nothing is checked against the dummy.
DUMMY_LOOKUP_VPC_ID = "vpc-12345"


class Network(Construct):
    """Exposes ``vpc``, ``cidr``, ``private_subnets`` and ``one_per_az`` (see the module docstring)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PlatformConfig) -> None:
        super().__init__(scope, construct_id)
        if config.vpc_id:
            # An existing VPC is the owner's: we neither add flow logs nor endpoints to it. The
            # lookup returns every subnet as it is (aws-cdk-lib 2.275 always asks the CLI for
            # returnAsymmetricSubnets), e.g. two private subnets in one AZ.
            self.vpc: ec2.IVpc = ec2.Vpc.from_lookup(self, "Vpc", vpc_id=config.vpc_id)
            self.cidr = self.vpc.vpc_cidr_block  # concrete: lookups resolve at synth
            subnets = self._chosen_subnets(config)
        else:
            self.vpc = self._new_vpc(config)
            # The literal (not the Fn::GetAtt token) so rules and cdk-nag can reason about it.
            self.cidr = config.vpc_cidr
            subnets = None
        if subnets is None:
            self.private_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
            self.one_per_az = ec2.SubnetSelection(
                subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, one_per_az=True
            )
        else:
            self.private_subnets = ec2.SubnetSelection(subnets=subnets)
            self.one_per_az = ec2.SubnetSelection(subnets=subnets, one_per_az=True)

    def _chosen_subnets(self, config: PlatformConfig) -> list[ec2.ISubnet] | None:
        """The subnets the settings choose in a looked-up VPC (None: the private subnets with egress)."""
        if self.vpc.vpc_id == DUMMY_LOOKUP_VPC_ID:
            return None
        candidates = [*self.vpc.private_subnets, *self.vpc.isolated_subnets]
        if config.private_subnet_group_name:
            groups = sorted({subnet_group_name(s) for s in candidates})
            candidates = [s for s in candidates if subnet_group_name(s) == config.private_subnet_group_name]
            if not candidates:
                raise ConfigError(
                    f"Invalid setting private_subnet_group_name={echo(config.private_subnet_group_name)}: "
                    f"{config.vpc_id} has no such private group; allowed: {', '.join(groups) or 'none'}"
                )
        if config.private_subnet_ids:
            by_id = {s.subnet_id: s for s in candidates}
            public = {s.subnet_id for s in self.vpc.public_subnets}
            for subnet_id in config.private_subnet_ids:
                if subnet_id not in by_id:
                    reason = "is a public subnet" if subnet_id in public else "is not a private subnet"
                    scope = (
                        f" of group {config.private_subnet_group_name}"
                        if config.private_subnet_group_name
                        else ""
                    )
                    raise ConfigError(
                        f"Invalid setting private_subnet_ids={echo(config.private_subnet_ids)}: {subnet_id} "
                        f"{reason}{scope} of {config.vpc_id}; allowed: {', '.join(sorted(by_id)) or 'none'}"
                    )
            candidates = [by_id[subnet_id] for subnet_id in config.private_subnet_ids]
        elif not config.private_subnet_group_name:
            if not self.vpc.private_subnets:
                raise ConfigError(
                    f"Invalid setting vpc_id={echo(config.vpc_id)}: it has no private subnets with egress "
                    "(NAT); allowed: a VPC with them, or choose private_subnet_group_name/private_subnet_ids "
                    "(with VPC endpoints, see the README)"
                )
            return None
        zones = {s.availability_zone for s in candidates}
        if len(zones) < 2:
            key = "private_subnet_ids" if config.private_subnet_ids else "private_subnet_group_name"
            raise ConfigError(
                f"Invalid setting {key}={echo(getattr(config, key))}: its subnets are all in "
                f"{', '.join(sorted(zones))}; allowed: subnets in at least 2 AZs (the ALB needs two)"
            )
        return candidates

    def _new_vpc(self, config: PlatformConfig) -> ec2.Vpc:
        flow_log_group = log_group(self, "FlowLogs", config=config)
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(config.vpc_cidr),
            max_azs=config.max_azs,
            nat_gateways=config.nat_gateways,
            # Public subnets only hold the NAT gateways; nothing of ours gets a public IP. The
            # sizes are the schema's (stacks/config/schema.py checks that they fit the CIDR).
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public",
                    subnet_type=ec2.SubnetType.PUBLIC,
                    cidr_mask=PUBLIC_SUBNET_MASK,
                    map_public_ip_on_launch=False,
                ),
                ec2.SubnetConfiguration(
                    name="private",
                    subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS,
                    cidr_mask=private_subnet_mask(int(config.vpc_cidr.split("/")[1])),
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


def subnet_group_name(subnet: ec2.ISubnet) -> str:
    """The group a looked-up subnet belongs to: aws-cdk-lib names them ``<group>Subnet<n>``."""
    return re.sub(r"Subnet\d+$", "", subnet.node.id)
