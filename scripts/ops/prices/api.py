"""Unit prices from the AWS Price List API (``pricing:GetProducts``), for ``make cost --source api``.

GetProducts answers JSON documents, one per product (SKU), each with its attributes and its
on-demand terms (``terms.OnDemand.<term>.priceDimensions.<dim>.pricePerUnit.USD``, tiers by
``beginRange``) -- the shape documented for the API (AWS Price List Service API reference,
GetProducts) and the one ``pricing.get_products`` returns as JSON strings in ``PriceList``.

Products are asked for by ``regionCode`` and the ``usagetype`` they bill under. Usage types carry
a region prefix that differs by service (``USE1-Fargate-GB-Hours`` but ``NatGateway-Hours`` in
us-east-1, ``EU-...`` in eu-west-1), so the query matches the usage type as a substring and the
answer is kept only when the usage type without its prefix is exactly the one wanted (so
``RegionalNatGateway-Hours`` or ``Fargate-ARM-GB-Hours`` never pass for ``NatGateway-Hours`` or
``Fargate-GB-Hours``). Tiered prices (CloudWatch metrics, S3) use the first tier. A unit the API
does not answer falls back to the shipped table, and the line says so.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from scripts.ops.aws import aws_error
from scripts.ops.errors import ScriptError
from scripts.ops.prices import PER_INSTANCE, PriceSource, UnitPrice

# The Price List API is served from a few regions only (us-east-1, eu-central-1, ap-south-1);
# it prices every region. AWS_ENDPOINT_URL(_PRICING) still overrides the endpoint (tests).
PRICING_ENDPOINT_REGION = "us-east-1"
API_CONFIG = botocore.config.Config(
    retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5, read_timeout=30
)
MAX_PAGES = 10
REGION_PREFIX = re.compile(r"^[A-Z]{2,4}[0-9]?-")
LINUX_SHARED = (
    ("operatingSystem", "Linux"),
    ("tenancy", "Shared"),
    ("preInstalledSw", "NA"),
    ("capacitystatus", "Used"),
)


@dataclass(frozen=True)
class Query:
    """The products of ``service`` in a region billed as ``usage`` (without region prefix)."""

    service: str
    usage: str
    filters: tuple[tuple[str, str], ...] = ()


QUERIES: dict[str, Query] = {
    "fargate_arm_vcpu_hour": Query("AmazonECS", "Fargate-ARM-vCPU-Hours:perCPU"),
    "fargate_arm_gb_hour": Query("AmazonECS", "Fargate-ARM-GB-Hours"),
    "fargate_x86_vcpu_hour": Query("AmazonECS", "Fargate-vCPU-Hours:perCPU"),
    "fargate_x86_gb_hour": Query("AmazonECS", "Fargate-GB-Hours"),
    "fargate_storage_gb_hour": Query("AmazonECS", "Fargate-EphemeralStorage-GB-Hours"),
    "nat_gateway_hour": Query("AmazonEC2", "NatGateway-Hours", (("productFamily", "NAT Gateway"),)),
    "public_ipv4_hour": Query("AmazonVPC", "PublicIPv4:InUseAddress"),
    "alb_hour": Query("AWSELB", "LoadBalancerUsage", (("productFamily", "Load Balancer-Application"),)),
    "alb_lcu_hour": Query("AWSELB", "LCUUsage", (("productFamily", "Load Balancer-Application"),)),
    "nlb_hour": Query("AWSELB", "LoadBalancerUsage", (("productFamily", "Load Balancer-Network"),)),
    "nlb_lcu_hour": Query("AWSELB", "LCUUsage", (("productFamily", "Load Balancer-Network"),)),
    "efs_standard_gb_month": Query("AmazonEFS", "TimedStorage-ByteHrs"),
    "backup_efs_warm_gb_month": Query("AWSBackup", "WarmStorage-ByteHrs-EFS"),
    "ebs_gp3_gb_month": Query("AmazonEC2", "EBS:VolumeUsage.gp3"),
    "ebs_gp2_gb_month": Query("AmazonEC2", "EBS:VolumeUsage.gp2"),
    "s3_standard_gb_month": Query("AmazonS3", "TimedStorage-ByteHrs", (("volumeType", "Standard"),)),
    "secret_month": Query("AWSSecretsManager", "AWSSecretsManager-Secrets"),
    "cw_alarm_month": Query("AmazonCloudWatch", "CW:AlarmMonitorUsage"),
    "cw_metric_month": Query("AmazonCloudWatch", "CW:MetricMonitorUsage"),
    "logs_ingest_gb": Query("AmazonCloudWatch", "DataProcessing-Bytes"),
    "logs_storage_gb_month": Query("AmazonCloudWatch", "TimedStorage-ByteHrs"),
    # {type} is the instance type; EC2 on-demand Linux, shared tenancy, no licensed software.
    "ec2_instance_hour": Query("AmazonEC2", "BoxUsage:{type}", (("instanceType", "{type}"), *LINUX_SHARED)),
    "emr_instance_hour": Query("ElasticMapReduce", "BoxUsage:{type}", (("instanceType", "{type}"),)),
}
# Table only: dashboards are billed globally and are not in the regional Price List data; the usage
# types EFS Elastic throughput bills under are not verified here (no source names them).
TABLE_ONLY = frozenset({"cw_dashboard_month", "efs_elastic_read_gb", "efs_elastic_write_gb"})


class PriceListError(ScriptError):
    """The Price List API could not be asked (no credentials, network, access denied)."""


def first_tier_usd(product: dict[str, Any]) -> Decimal | None:
    """The on-demand price of the first tier (lowest ``beginRange``) above zero, if any."""
    tiers: list[tuple[Decimal, Decimal]] = []
    for term in (product.get("terms", {}).get("OnDemand") or {}).values():
        for dimension in (term.get("priceDimensions") or {}).values():
            try:
                usd = Decimal(str(dimension.get("pricePerUnit", {}).get("USD")))
                begin = Decimal(str(dimension.get("beginRange", "0")))
            except InvalidOperation:
                continue
            tiers.append((begin, usd))
    for _begin, usd in sorted(tiers):
        if usd > 0:
            return usd
    return None


def unprefixed(usage_type: str) -> str:
    return REGION_PREFIX.sub("", usage_type, count=1)


class ApiPrices:
    """Unit prices asked from the Price List API; ``fallback`` answers what it does not."""

    def __init__(self, session: boto3.Session, region: str, *, fallback: PriceSource | None) -> None:
        self.region = region
        self.fallback = fallback
        self.client = session.client("pricing", region_name=PRICING_ENDPOINT_REGION, config=API_CONFIG)  # type: ignore[call-overload]
        self.description = f"AWS Price List API (GetProducts at {self.client.meta.endpoint_url}), read now"
        self._cache: dict[tuple[str, tuple[tuple[str, str, str], ...]], list[dict[str, Any]]] = {}

    def products(self, service: str, filters: tuple[tuple[str, str, str], ...]) -> list[dict[str, Any]]:
        key = (service, filters)
        if key not in self._cache:
            documents: list[dict[str, Any]] = []
            try:
                pages = self.client.get_paginator("get_products").paginate(
                    ServiceCode=service,
                    Filters=[
                        {"Type": kind, "Field": field, "Value": value} for kind, field, value in filters
                    ],
                    FormatVersion="aws_v1",
                    PaginationConfig={"PageSize": 100, "MaxItems": 100 * MAX_PAGES},
                )
                for page in pages:
                    documents += [
                        json.loads(item) if isinstance(item, str) else item for item in page["PriceList"]
                    ]
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
                raise PriceListError(
                    f"the AWS Price List API failed for {service}: {aws_error(error)}"
                ) from None
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise PriceListError(
                    f"the AWS Price List API answered {service} in an unexpected shape: {error}"
                ) from None
            self._cache[key] = documents
        return self._cache[key]

    def unit(self, key: str, instance_type: str | None = None) -> UnitPrice:
        query = QUERIES.get(key)
        if query is None:
            return self._fall_back(key, instance_type, "no Price List query for it")
        usage = query.usage.format(type=instance_type)
        filters = (
            ("TERM_MATCH", "regionCode", self.region),
            ("CONTAINS", "usagetype", usage),
            *(("TERM_MATCH", field, value.format(type=instance_type)) for field, value in query.filters),
        )
        matches = [
            usd
            for product in self.products(query.service, filters)
            if unprefixed(str(product.get("product", {}).get("attributes", {}).get("usagetype", ""))) == usage
            and (usd := first_tier_usd(product)) is not None
        ]
        if not matches:
            return self._fall_back(key, instance_type, f"no {query.service} product billed as {usage}")
        extra = f" (first of {len(set(matches))} prices)" if len(set(matches)) > 1 else ""
        return UnitPrice(matches[0], f"Price List API, {query.service} {usage}{extra}")

    def _fall_back(self, key: str, instance_type: str | None, why: str) -> UnitPrice:
        what = f"{key} {instance_type}" if key in PER_INSTANCE else key
        if self.fallback is None:
            return UnitPrice(None, f"Price List API: {why} for {what} in {self.region}")
        table = self.fallback.unit(key, instance_type)
        return UnitPrice(table.usd, f"Price List API: {why}; {table.note}")
