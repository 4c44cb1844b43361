"""What the preflight checks before an EMR deploy (scripts/ops/emr_prerequisites.py), against moto
in server mode: moto 5.2.5 answers ListReleaseLabels and ListSupportedInstanceTypes from AWS's
own per-release type lists (moto/emr/resources), and the EC2 VPC, DHCP, route table and endpoint
APIs. The preflight's own wiring is exercised end to end in test_preflight.py. Each test builds
its own VPC in the shared moto server; the EMR calls read only moto's static lists.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from scripts.ops.emr_prerequisites import check_emr, check_vpc
from stacks.config import parse_settings

REGION = "eu-west-1"
ACCOUNT = "123456789012"


@pytest.fixture
def session(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> boto3.Session:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)


def emr_settings(**settings: Any) -> Any:
    return parse_settings({"hbase_mode": "emr", **settings})


# --- release and instance types ----------------------------------------------------------------


def test_the_defaults_are_offered(session: boto3.Session) -> None:
    result = check_emr(session, emr_settings(), REGION)
    assert (result.problems, result.warnings) == ([], [])
    # An imported VPC's problems come with the instance types' (check_vpc's own cases below).
    ec2 = session.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    (line,) = check_emr(session, emr_settings(vpc_id=vpc_id, account=ACCOUNT, region=REGION), REGION).problems
    assert line.startswith(f"vpc_id={vpc_id}: enableDnsHostnames is off")


def test_a_graviton_size_emr_does_not_offer_for_the_release_is_one_line_each(session: boto3.Session) -> None:
    """m7g.large exists in EC2 but EMR 7.13.0 offers m7g from xlarge up; no .medium size at all."""
    result = check_emr(
        session,
        emr_settings(emr_core_instance_type="m7g.large", emr_primary_instance_type="r7g.medium"),
        REGION,
    )
    primary, core = result.problems
    assert primary == (
        "emr_primary_instance_type='r7g.medium' is not supported by emr-7.13.0 in eu-west-1 "
        "(EMR ListSupportedInstanceTypes); allowed: a Graviton type it lists, e.g. r7g.xlarge, r7g.2xlarge, "
        "r7g.4xlarge, r7g.8xlarge, r7g.12xlarge, r7g.16xlarge"
    )
    assert core == (
        "emr_core_instance_type='m7g.large' is not supported by emr-7.13.0 in eu-west-1 "
        "(EMR ListSupportedInstanceTypes); allowed: a Graviton type it lists, e.g. m7g.xlarge, m7g.2xlarge, "
        "m7g.4xlarge, m7g.8xlarge, m7g.12xlarge, m7g.16xlarge"
    )


def test_graviton_types_newer_than_the_release_are_refused(session: boto3.Session) -> None:
    """emr-6.9.0 offers m6g, not m7g (a Graviton type with an emr-6.x label): the same size is shown."""
    result = check_emr(session, emr_settings(emr_release_label="emr-6.9.0", emr_wal=False), REGION)
    assert len(result.problems) == 2
    for line in result.problems:
        assert "='m7g.xlarge' is not supported by emr-6.9.0 in eu-west-1" in line
        examples = line.split("e.g. ")[1].split(", ")
        assert "m6g.xlarge" in examples
        assert all(t.endswith(".xlarge") and not t.startswith("m7g") for t in examples), examples


def test_a_release_the_region_does_not_have_is_named(session: boto3.Session) -> None:
    result = check_emr(session, emr_settings(emr_release_label="emr-7.99.0"), REGION)
    (line,) = result.problems
    assert line == (
        "emr_release_label='emr-7.99.0' is not an Amazon EMR release in eu-west-1 (EMR ListReleaseLabels; "
        "newest there: emr-7.14.0, emr-7.13.0, emr-7.12.0)"
    )


def test_an_unreachable_emr_api_is_a_problem_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: refused
    session = boto3.Session(aws_access_key_id="t", aws_secret_access_key="t", region_name=REGION)
    (line,) = check_emr(session, emr_settings(), REGION).problems
    assert line.startswith("cannot check the EMR release and instance types for hbase_mode=emr: ")


# --- an imported VPC -----------------------------------------------------------------------------


def vpc(session: boto3.Session, *, dns_hostnames: bool = True) -> tuple[Any, str, str, str]:
    """A VPC with a public subnet (internet gateway) and a private one with its own route table."""
    ec2 = session.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": dns_hostnames})
    public = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.60.0.0/24")["Subnet"]["SubnetId"]
    private = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.60.10.0/24")["Subnet"]["SubnetId"]
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc_id)
    (main,) = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    ec2.create_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    table = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=table, SubnetId=private)
    assert public
    return ec2, vpc_id, private, table


def imported(vpc_id: str, **settings: Any) -> Any:
    return emr_settings(vpc_id=vpc_id, account=ACCOUNT, region=REGION, **settings)


def test_a_private_subnet_without_nat_or_endpoints_is_named_with_what_it_lacks(
    session: boto3.Session,
) -> None:
    _, vpc_id, private, table = vpc(session)
    (line,) = check_vpc(session, imported(vpc_id), REGION).problems
    assert line == (
        f"subnet {private} (route table {table}) has no NAT route and no VPC endpoint for S3 (a gateway "
        "endpoint on this route table), KMS, EMR WAL: EMR nodes there cannot reach them (ManagementGuide "
        "emr-clusters-in-a-vpc, private subnets); add a NAT gateway route or those endpoints"
    )
    # Without EMR WAL its endpoint is not needed.
    (line,) = check_vpc(session, imported(vpc_id, emr_wal=False), REGION).problems
    assert line.endswith(
        "for S3 (a gateway endpoint on this route table), KMS: EMR nodes there cannot reach "
        "them (ManagementGuide emr-clusters-in-a-vpc, private subnets); add a NAT gateway route "
        "or those endpoints"
    )


def test_endpoints_or_a_nat_route_are_ways_out(session: boto3.Session) -> None:
    ec2, vpc_id, private, table = vpc(session)
    prefix = f"com.amazonaws.{REGION}."
    ec2.create_vpc_endpoint(
        VpcId=vpc_id, ServiceName=f"{prefix}s3", VpcEndpointType="Gateway", RouteTableIds=[table]
    )
    for service in ("kms", "emrwal.prod"):
        ec2.create_vpc_endpoint(
            VpcId=vpc_id,
            ServiceName=prefix + service,
            VpcEndpointType="Interface",
            SubnetIds=[private],
            PrivateDnsEnabled=True,
        )
    assert check_vpc(session, imported(vpc_id), REGION).problems == []

    ec2, other_vpc, _, other_table = vpc(session)
    public_subnet = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.60.1.0/24")["Subnet"]["SubnetId"]
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public_subnet, AllocationId=allocation)["NatGateway"][
        "NatGatewayId"
    ]
    ec2.create_route(RouteTableId=other_table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    assert check_vpc(session, imported(other_vpc), REGION).problems == []


def test_only_the_chosen_subnets_are_checked(session: boto3.Session) -> None:
    ec2, vpc_id, private, _ = vpc(session)
    # A second private subnet behind a NAT gateway: choosing it alone leaves nothing to report.
    public = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.60.1.0/24")["Subnet"]["SubnetId"]
    behind_nat = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.60.11.0/24")["Subnet"]["SubnetId"]
    table = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=table, SubnetId=behind_nat)
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=allocation)["NatGateway"]["NatGatewayId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    assert check_vpc(session, imported(vpc_id, private_subnet_ids=[behind_nat]), REGION).problems == []
    # By default every subnet without an internet gateway route is a candidate.
    (line,) = check_vpc(session, imported(vpc_id), REGION).problems
    assert line.startswith(f"subnet {private} ")
    # A subnet group (the aws-cdk:subnet-name tag) picks its members.
    ec2.create_tags(Resources=[private], Tags=[{"Key": "aws-cdk:subnet-name", "Value": "data"}])
    (line,) = check_vpc(session, imported(vpc_id, private_subnet_group_name="data"), REGION).problems
    assert line.startswith(f"subnet {private} ")


def test_dns_hostnames_and_amazon_dns_are_required(session: boto3.Session) -> None:
    ec2, vpc_id, _, table = vpc(session, dns_hostnames=False)
    ec2.create_vpc_endpoint(
        VpcId=vpc_id,
        ServiceName=f"com.amazonaws.{REGION}.s3",
        VpcEndpointType="Gateway",
        RouteTableIds=[table],
    )
    options = ec2.create_dhcp_options(
        DhcpConfigurations=[
            {"Key": "domain-name-servers", "Values": ["10.60.0.2", "10.60.0.3"]},
            {"Key": "domain-name", "Values": ["corp.example"]},
        ]
    )["DhcpOptions"]["DhcpOptionsId"]
    ec2.associate_dhcp_options(DhcpOptionsId=options, VpcId=vpc_id)
    result = check_vpc(session, imported(vpc_id, emr_wal=False), REGION)
    hostnames, dns, ways_out = result.problems
    assert hostnames.startswith(f"vpc_id={vpc_id}: enableDnsHostnames is off; EMR nodes find each other")
    assert hostnames.endswith(f'--vpc-id {vpc_id} --enable-dns-hostnames "{{\\"Value\\":true}}"')
    assert dns == (
        f"vpc_id={vpc_id}: its DHCP options {options} name the DNS servers 10.60.0.2, 10.60.0.3, not "
        "AmazonProvidedDNS; EMR needs domain-name-servers = AmazonProvidedDNS (ManagementGuide "
        "emr-vpc-host-job-flows)"
    )
    assert ways_out.endswith(
        "no VPC endpoint for KMS: EMR nodes there cannot reach them (ManagementGuide "
        "emr-clusters-in-a-vpc, private subnets); add a NAT gateway route or those endpoints"
    )
    (warning,) = result.warnings
    assert warning.startswith(
        f"vpc_id={vpc_id}: DHCP options {options} give the domain name corp.example; EMR "
        "recommends eu-west-1.compute.internal"
    )
