"""What ``hbase_mode=emr`` needs from the account and the VPC before CloudFormation creates the
cluster: the checks ``make deploy|diff`` runs (scripts/ops/preflight.py), one line per problem.

* The release and the instance types (EMR API ``ListReleaseLabels``, ``ListSupportedInstanceTypes``):
  a type that exists is not necessarily offered by EMR for a release in a region (``m7g.*`` is
  not in ``emr-6.9.0``; ``.medium`` and ``.metal`` sizes are not offered at all), and CloudFormation
  would find out only after the network, roles and buckets exist.
* An imported VPC (``vpc_id``), ManagementGuide emr-vpc-host-job-flows: DNS hostnames and DNS
  resolution on, and a DHCP options set whose name servers are ``AmazonProvidedDNS`` (Hadoop and
  HBase address each other by the names EC2 gives them); its domain name should be
  ``ec2.internal`` in us-east-1, ``<region>.compute.internal`` elsewhere (a warning).
* The nodes' way out of the private subnets (ManagementGuide emr-clusters-in-a-vpc, "Private
  subnets"): a NAT route, or else an S3 gateway endpoint on the subnet's route table (EMR's logs,
  the data bucket, the Amazon Linux repositories) and interface endpoints for KMS (the local-disk
  key at boot) and, with ``emr_wal``, EMR WAL (``com.amazonaws.<region>.emrwal.prod``, ReleaseGuide
  emr-hbase-wal-privatelink).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from scripts.ops.aws import BotoClient, aws_client, aws_error
from stacks.config import PlatformConfig

AMAZON_DNS = "AmazonProvidedDNS"
# The subnet group tag CDK's Vpc.from_lookup reads (private_subnet_group_name).
SUBNET_GROUP_TAG = "aws-cdk:subnet-name"
# Types listed in a problem line; EMR offers hundreds.
MAX_LISTED_TYPES = 12


@dataclass
class EmrCheck:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_emr(session: Any, config: PlatformConfig, region: str) -> EmrCheck:
    """Every check that applies to ``config``; AWS errors become problems, not exceptions."""
    result = check_instance_types(session, config, region)
    if config.vpc_id:
        vpc = check_vpc(session, config, region)
        result.problems += vpc.problems
        result.warnings += vpc.warnings
    return result


def check_instance_types(session: Any, config: PlatformConfig, region: str) -> EmrCheck:
    result = EmrCheck()
    emr = aws_client(session, "emr")
    _guarded(
        result,
        "the EMR release and instance types",
        lambda: _check_instance_types(result, emr, config, region),
    )
    return result


def check_vpc(session: Any, config: PlatformConfig, region: str) -> EmrCheck:
    result = EmrCheck()
    ec2 = aws_client(session, "ec2")
    _guarded(result, f"VPC {config.vpc_id}", lambda: _check_vpc(result, ec2, config, region))
    return result


def _guarded(result: EmrCheck, what: str, check: Callable[[], None]) -> None:
    try:
        check()
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        result.problems.append(f"cannot check {what} for hbase_mode=emr: {aws_error(error)}")


# --- release and instance types ----------------------------------------------------------------


def _pages(call: Callable[..., dict[str, Any]], key: str, token: str, **kwargs: Any) -> Iterator[Any]:
    """Every item of a paginated EMR list call (its token field: NextToken or Marker)."""
    while True:
        page = call(**kwargs)
        yield from page.get(key, [])
        if not page.get(token):
            return
        kwargs[token] = page[token]


def _check_instance_types(result: EmrCheck, emr: BotoClient, config: PlatformConfig, region: str) -> None:
    label = config.emr_release_label
    labels = list(_pages(emr.list_release_labels, "ReleaseLabels", "NextToken"))
    if label not in labels:
        newest = ", ".join(labels[:3]) or "none"
        result.problems.append(
            f"emr_release_label={label!r} is not an Amazon EMR release in {region} (EMR ListReleaseLabels; "
            f"newest there: {newest})"
        )
        return
    supported = {
        item["Type"]: item
        for item in _pages(
            emr.list_supported_instance_types, "SupportedInstanceTypes", "Marker", ReleaseLabel=label
        )
    }
    for setting in ("emr_primary_instance_type", "emr_core_instance_type"):
        wanted = getattr(config, setting)
        if wanted in supported:
            continue
        listed = _alternatives(wanted, supported)
        result.problems.append(
            f"{setting}={wanted!r} is not supported by {label} in {region} (EMR ListSupportedInstanceTypes); "
            f"allowed: a Graviton type it lists, e.g. {listed}"
        )


def _alternatives(wanted: str, supported: dict[str, Any]) -> str:
    """Graviton types EMR offers, closest first: the same family, else the same size."""
    graviton = sorted(
        (t for t, item in supported.items() if item.get("Architecture") == "AARCH64"), key=_size_order
    )
    family, _, size = wanted.partition(".")
    closest = [t for t in graviton if t.partition(".")[0] == family] or [
        t for t in graviton if t.partition(".")[2] == size
    ]
    shown = (closest or graviton)[:MAX_LISTED_TYPES]
    return ", ".join(shown) + (" ..." if len(closest or graviton) > MAX_LISTED_TYPES else "") or "none listed"


def _size_order(instance_type: str) -> tuple[str, int]:
    """m7g.large < m7g.xlarge < m7g.2xlarge < ... (families alphabetically)."""
    family, _, size = instance_type.partition(".")
    if size.endswith("xlarge"):
        return family, 2 * int(size.removesuffix("xlarge") or 1)
    return family, {"medium": 0, "large": 1}.get(size, 999)


# --- the imported VPC ----------------------------------------------------------------------------


def _check_vpc(result: EmrCheck, ec2: BotoClient, config: PlatformConfig, region: str) -> None:
    vpc_id = config.vpc_id
    for attribute, key, flag in (
        ("enableDnsHostnames", "EnableDnsHostnames", "--enable-dns-hostnames"),
        ("enableDnsSupport", "EnableDnsSupport", "--enable-dns-support"),
    ):
        answer = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attribute)
        if not answer[key]["Value"]:
            result.problems.append(
                f"vpc_id={vpc_id}: {attribute} is off; EMR nodes find each other by their EC2 DNS names "
                f"(ManagementGuide emr-vpc-host-job-flows): aws ec2 modify-vpc-attribute --vpc-id {vpc_id} "
                f'{flag} "{{\\"Value\\":true}}"'
            )
    (vpc,) = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    _check_dhcp(result, ec2, vpc_id, vpc.get("DhcpOptionsId", "default"), region)
    for subnet_id, table in _private_route_tables(ec2, config):
        missing = _missing_ways_out(ec2, vpc_id, table, region, emr_wal=config.emr_wal)
        if missing:
            result.problems.append(
                f"subnet {subnet_id} (route table {table['RouteTableId']}) has no NAT route and no VPC endpoint "
                f"for {', '.join(missing)}: EMR nodes there cannot reach them (ManagementGuide "
                "emr-clusters-in-a-vpc, private subnets); add a NAT gateway route or those endpoints"
            )


def _check_dhcp(result: EmrCheck, ec2: BotoClient, vpc_id: str, options_id: str, region: str) -> None:
    if options_id == "default":  # AmazonProvidedDNS and the region's default domain
        return
    (options,) = ec2.describe_dhcp_options(DhcpOptionsIds=[options_id])["DhcpOptions"]
    values = {
        item["Key"]: [value["Value"] for value in item.get("Values", [])]
        for item in options.get("DhcpConfigurations", [])
    }
    if AMAZON_DNS not in values.get("domain-name-servers", []):
        servers = ", ".join(values.get("domain-name-servers", [])) or "none"
        result.problems.append(
            f"vpc_id={vpc_id}: its DHCP options {options_id} name the DNS servers {servers}, not {AMAZON_DNS}; "
            "EMR needs domain-name-servers = AmazonProvidedDNS (ManagementGuide emr-vpc-host-job-flows)"
        )
    expected = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
    names = values.get("domain-name", [])
    if names != [expected]:
        result.warnings.append(
            f"vpc_id={vpc_id}: DHCP options {options_id} give the domain name {', '.join(names) or 'none'}; EMR "
            f"recommends {expected} so that every node resolves the others' FQDNs (ManagementGuide "
            "emr-vpc-host-job-flows)"
        )


def _private_route_tables(ec2: BotoClient, config: PlatformConfig) -> Iterator[tuple[str, dict[str, Any]]]:
    """(subnet id, route table) of each subnet the stack may place the cluster in: the chosen ids,
    else the chosen subnet group, else every subnet without an internet gateway route."""
    vpc_filter = [{"Name": "vpc-id", "Values": [config.vpc_id]}]
    tables = ec2.describe_route_tables(Filters=vpc_filter)["RouteTables"]
    main = next(t for t in tables if any(a.get("Main") for a in t.get("Associations", [])))
    table_of = {a["SubnetId"]: t for t in tables for a in t.get("Associations", []) if a.get("SubnetId")}
    subnets = ec2.describe_subnets(Filters=vpc_filter)["Subnets"]
    for subnet in sorted(subnets, key=lambda s: s["SubnetId"]):
        subnet_id = subnet["SubnetId"]
        table = table_of.get(subnet_id, main)
        tags = {t["Key"]: t["Value"] for t in subnet.get("Tags", [])}
        if config.private_subnet_ids or config.private_subnet_group_name:
            chosen = subnet_id in config.private_subnet_ids or (
                config.private_subnet_group_name is not None
                and tags.get(SUBNET_GROUP_TAG) == config.private_subnet_group_name
            )
        else:
            chosen = not any(r.get("GatewayId", "").startswith("igw-") for r in table.get("Routes", []))
        if chosen:
            yield subnet_id, table


def _missing_ways_out(
    ec2: BotoClient, vpc_id: str, table: dict[str, Any], region: str, *, emr_wal: bool
) -> list[str]:
    """The services a subnet with this route table cannot reach: none behind a NAT."""
    for route in table.get("Routes", []):
        if route.get("DestinationCidrBlock") == "0.0.0.0/0" and (
            route.get("NatGatewayId") or route.get("InstanceId") or route.get("TransitGatewayId")
        ):
            return []
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["VpcEndpoints"]
    usable = [e for e in endpoints if e.get("State", "available").lower() == "available"]
    prefix = f"com.amazonaws.{region}."
    missing = []
    if not any(
        e["ServiceName"] == f"{prefix}s3"
        and e.get("VpcEndpointType") == "Gateway"
        and table["RouteTableId"] in e.get("RouteTableIds", [])
        for e in usable
    ):
        missing.append("S3 (a gateway endpoint on this route table)")
    interfaces = {
        e["ServiceName"].removeprefix(prefix)
        for e in usable
        if e.get("VpcEndpointType") == "Interface" and e.get("PrivateDnsEnabled")
    }
    wanted = {"kms": "KMS", **({"emrwal.prod": "EMR WAL"} if emr_wal else {})}
    missing += [name for service, name in wanted.items() if service not in interfaces]
    return missing
