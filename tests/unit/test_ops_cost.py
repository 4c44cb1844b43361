"""`make cost`: every figure against arithmetic done by hand from the price table's unit prices,
the output's contract (last line, unknown region, config changes, no total without the prices a
deployment needs), the table's provenance (source and date of every figure), and the Price List API path
against a loopback server answering GetProducts as the API documents it (moto 5.2.5 has no
``pricing`` service: ``moto/backend_index.py`` lists none).

Also here: the topology line the deploy preflight prints before the cost (``make deploy``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from scripts.ops.cost import (
    BACKUP_DAILY_CHANGE,
    EFS_READ_GB,
    EFS_WRITE_GB,
    EMR_ROOT_GIB,
    IMMATERIAL,
    Bill,
    MissingPrices,
    alarm_count,
    estimate,
    metric_filter_count,
)
from scripts.ops.errors import ScriptError
from scripts.ops.preflight import topology
from scripts.ops.prices import PER_INSTANCE, TABLE_FILE, TablePrices
from scripts.ops.prices.api import QUERIES, TABLE_ONLY
from stacks.config import load_config
from tests.loopback import QuietRequestLog, loopback_server
from tests.script_env import isolated_aws_env
from tests.unit.conftest import ALL_VARIANTS, ISOLATED_CONFIG_DIR, synth

# hbase_mode=emr needs the in-transit encryption certificates (or an explicit opt-out).
EMR_CERTIFICATES = "s3://example-pinpoint-certs/emr/pinpoint-certs.zip"

REPO_ROOT = Path(__file__).resolve().parents[2]
REQUIRED_REGIONS = {
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
}
LINE = re.compile(r"^  (?P<label>.+): \$(?P<usd>[\d,]+\.\d\d) \((?P<basis>.+)\)$")
TOTAL = re.compile(r"^total: \$(?P<usd>\d{1,3}(?:,\d{3})*\.\d\d)/month$")

# us-east-1 unit prices as written in scripts/ops/prices/list-prices.json (checked below).
ARM_VCPU_H, ARM_GB_H, STORAGE_GB_H = Decimal("0.03238"), Decimal("0.00356"), Decimal("0.000111")
NAT_H, IPV4_H, ALB_H, LCU_H = Decimal("0.045"), Decimal("0.005"), Decimal("0.0225"), Decimal("0.008")
EFS_GB_MONTH, SECRET, ALARM, DASHBOARD = Decimal("0.30"), Decimal("0.40"), Decimal("0.10"), Decimal("3.00")
LOGS_GB, LOGS_GB_MONTH, METRIC = Decimal("0.50"), Decimal("0.03"), Decimal("0.30")
M7G_XLARGE_H, GP3_GB_MONTH, S3_GB_MONTH = Decimal("0.1632"), Decimal("0.08"), Decimal("0.023")
GP2_GB_MONTH, BACKUP_GB_MONTH = Decimal("0.10"), Decimal("0.05")
EFS_READ_GB_PRICE, EFS_WRITE_GB_PRICE = Decimal("0.03"), Decimal("0.06")


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")


def bill(overrides: dict[str, str], region: str = "us-east-1") -> Bill:
    config = load_config({"region": region, **overrides})
    return estimate(config, TablePrices(region), header=["header"], source="the table")


def bill_lines(overrides: dict[str, str], region: str = "us-east-1") -> tuple[dict[str, Decimal | None], str]:
    estimated = bill(overrides, region)
    return {line.label: line.usd for line in estimated.lines}, estimated.render()[-1]


def table_with(tmp_path: Path, region: str, key: str) -> Path:
    """A copy of the shipped table where ``region``'s ``key`` has no figure (as a gap would)."""
    table = json.loads(TABLE_FILE.read_text())
    table["regions"][region][key] = {"usd": None, "note": "removed for the test"}
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(table))
    return path


def offline_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No AWS or CDK settings, credentials or metadata service of this machine: `make cost` offline."""
    return isolated_aws_env(tmp_path, drop=("CDK_",), **extra)


def run_cost(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "scripts/cost.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_hand_figures_are_the_tables_us_east_1_unit_prices() -> None:
    prices = TablePrices("us-east-1")
    written = {
        "fargate_arm_vcpu_hour": ARM_VCPU_H,
        "fargate_arm_gb_hour": ARM_GB_H,
        "fargate_storage_gb_hour": STORAGE_GB_H,
        "nat_gateway_hour": NAT_H,
        "public_ipv4_hour": IPV4_H,
        "alb_hour": ALB_H,
        "alb_lcu_hour": LCU_H,
        "efs_standard_gb_month": EFS_GB_MONTH,
        "secret_month": SECRET,
        "cw_alarm_month": ALARM,
        "cw_dashboard_month": DASHBOARD,
        "logs_ingest_gb": LOGS_GB,
        "logs_storage_gb_month": LOGS_GB_MONTH,
        "cw_metric_month": METRIC,
        "ebs_gp3_gb_month": GP3_GB_MONTH,
        "ebs_gp2_gb_month": GP2_GB_MONTH,
        "s3_standard_gb_month": S3_GB_MONTH,
        "backup_efs_warm_gb_month": BACKUP_GB_MONTH,
        "efs_elastic_read_gb": EFS_READ_GB_PRICE,
        "efs_elastic_write_gb": EFS_WRITE_GB_PRICE,
    }
    for key, usd in written.items():
        assert prices.unit(key).usd == usd, key
    assert prices.unit("ec2_instance_hour", "m7g.xlarge").usd == M7G_XLARGE_H


def test_default_deployment_computed_by_hand() -> None:
    lines, total = bill_lines({})
    hand = {
        # one all-in-one task, ARM64, 4096 CPU units = 4 vCPU, 16384 MiB = 16 GiB, 730 h
        "Fargate ARM64 vCPU, all-in-one (1 task x 4 vCPU)": cents(1 * 4 * 730 * ARM_VCPU_H),  # 94.5496
        "Fargate ARM64 memory, all-in-one (1 task x 16 GiB)": cents(1 * 16 * 730 * ARM_GB_H),  # 41.5808
        # 200 GiB ephemeral storage, the first 20 are included
        "Fargate ephemeral storage above 20 GiB, all-in-one (1 task x 180 GiB)": cents(
            180 * 730 * STORAGE_GB_H
        ),
        "NAT gateways (1)": cents(1 * 730 * NAT_H),  # 32.85
        "Public IPv4 addresses of the NAT gateways (1)": cents(1 * 730 * IPV4_H),  # 3.65
        "Internal ALB (1)": cents(730 * ALB_H),  # 16.425 -> 16.43
        "Internal ALB capacity, estimate (1 LCU assumed)": cents(1 * 730 * LCU_H),  # 5.84
        "EFS agent volume, estimate (0.1 GB assumed)": cents(Decimal("0.1") * EFS_GB_MONTH),  # 0.03
        "Secrets Manager secret (web admin password)": cents(1 * SECRET),
        # no-running-task, CPU, memory, ephemeral storage; unhealthy hosts, 5xx; distributor errors
        "CloudWatch alarms (7)": cents(7 * ALARM),
        # the distributor's "[ERROR]" metric filter
        "CloudWatch custom metrics of the log metric filters (1), at most": cents(1 * METRIC),
        "CloudWatch dashboard (1)": cents(1 * DASHBOARD),
        # 1 GB per task (1 task) + 2 GB of flow logs of the new VPC
        "CloudWatch Logs ingestion, estimate (1 GB per task + 2 GB of VPC flow logs assumed)": cents(
            3 * LOGS_GB
        ),
        # kept 30 days (log_retention_days) = one month of ingestion stored
        "CloudWatch Logs storage, estimate (kept log_retention_days=30)": cents(3 * LOGS_GB_MONTH),
        # 15 per cluster + 20 per service (1 service)
        "Container Insights (enabled), estimate (35 custom metrics assumed)": cents(35 * METRIC),
    }
    assert lines == hand
    assert sum(hand.values()) == Decimal("226.01")
    assert total == "total: $226.01/month"


def test_emr_deployment_computed_by_hand() -> None:
    estimated = bill({"hbase_mode": "emr", "emr_tls_certificates_s3_uri": EMR_CERTIFICATES})
    lines = {line.label: line.usd for line in estimated.lines}
    hand = {
        # collector_min_count=2 tasks of 2048 CPU / 4096 MiB; web_count=1 of 1024 / 2048
        "Fargate ARM64 vCPU, collectors (2 tasks x 2 vCPU)": cents(2 * 2 * 730 * ARM_VCPU_H),  # 94.5496
        "Fargate ARM64 memory, collectors (2 tasks x 4 GiB)": cents(2 * 4 * 730 * ARM_GB_H),  # 20.7904
        "Fargate ARM64 vCPU, web (1 task x 1 vCPU)": cents(1 * 1 * 730 * ARM_VCPU_H),  # 23.6374
        "Fargate ARM64 memory, web (1 task x 2 GiB)": cents(1 * 2 * 730 * ARM_GB_H),  # 5.1976
        # 1 primary + emr_core_instance_count=2 core nodes, m7g.xlarge
        "EC2 m7g.xlarge, EMR primary (1)": cents(1 * 730 * M7G_XLARGE_H),  # 119.136
        "EC2 m7g.xlarge, EMR core (2)": cents(2 * 730 * M7G_XLARGE_H),  # 238.272
        # the EMR fee for m7g.xlarge is null in the table (not found): unpriced, not guessed
        "EMR fee m7g.xlarge, primary (1)": None,
        "EMR fee m7g.xlarge, core (2)": None,
        # EMR's defaults for EBS-only m7g.xlarge nodes: a 15 GiB gp3 root each, 64 GiB of data volumes
        # each (priced as gp2: the page says gp2 or gp3)
        "EBS gp3 root volumes of the EMR nodes (3 nodes x 15 GiB)": cents(3 * 15 * GP3_GB_MONTH),
        "EBS data volumes, EMR primary (1 x m7g.xlarge: 64 GiB each), priced as gp2": cents(
            64 * GP2_GB_MONTH
        ),
        "EBS data volumes, EMR core (2 x m7g.xlarge: 64 GiB each), priced as gp2": cents(
            2 * 64 * GP2_GB_MONTH
        ),
        "S3 storage of the HBase data, estimate (50 GB assumed)": cents(50 * S3_GB_MONTH),
        "NAT gateways (1)": cents(730 * NAT_H),
        "Public IPv4 addresses of the NAT gateways (1)": cents(730 * IPV4_H),
        "Internal ALB (1)": cents(730 * ALB_H),
        "Internal ALB capacity, estimate (1 LCU assumed)": cents(730 * LCU_H),
        "EFS agent volume, estimate (0.1 GB assumed)": cents(Decimal("0.1") * EFS_GB_MONTH),
        "Secrets Manager secret (web admin password)": cents(SECRET),
        # running, CPU, memory, failed HBase calls for collectors and web (8) + unhealthy hosts, 5xx +
        # distributor errors
        "CloudWatch alarms (11)": cents(11 * ALARM),
        # the distributor's errors, the collector's and the web's failed HBase calls
        "CloudWatch custom metrics of the log metric filters (3), at most": cents(3 * METRIC),
        "CloudWatch dashboard (1)": cents(DASHBOARD),
        # 3 tasks x 1 GB + 2 GB of flow logs
        "CloudWatch Logs ingestion, estimate (1 GB per task + 2 GB of VPC flow logs assumed)": cents(
            5 * LOGS_GB
        ),
        "CloudWatch Logs storage, estimate (kept log_retention_days=30)": cents(5 * LOGS_GB_MONTH),
        # 15 per cluster + 20 x 2 services
        "Container Insights (enabled), estimate (55 custom metrics assumed)": cents(55 * METRIC),
    }
    assert lines == hand
    # $608.89 is what the priced lines add up to: printed as a total it would hide the EMR fee
    # (3 nodes x 730 h), so there is no total, only the one line that names the gap.
    assert sum(usd for usd in hand.values() if usd is not None) == Decimal("608.89")
    with pytest.raises(MissingPrices) as missing:
        estimated.render()
    assert str(missing.value) == (
        "cannot price this deployment in us-east-1: no unit price for emr_instance_hour m7g.xlarge in the table"
    )


def test_collectors_at_their_maximum_are_shown_but_not_counted() -> None:
    config = load_config(
        {"region": "us-east-1", "hbase_mode": "external", "hbase_zookeeper_quorum": "zk:2181"}
    )
    rendered = estimate(config, TablePrices("us-east-1"), header=[]).render()
    # 6 - 2 = 4 more collectors: 4 x 2 vCPU x 730 h x $0.03238 + 4 x 4 GiB x 730 h x $0.00356
    more = cents(4 * 2 * 730 * ARM_VCPU_H) + cents(4 * 4 * 730 * ARM_GB_H)
    assert more == Decimal("230.68")
    assert (
        f"  collectors scale on CPU up to collector_max_count=6: up to ${more}/month more, not in the total"
        in rendered
    )
    assert not any(line.startswith("  EC2 ") or "EMR" in line for line in rendered)  # external: no EMR lines


def test_the_bootstrap_task_is_an_assumption_only_where_one_runs() -> None:
    external = {"hbase_mode": "external", "hbase_zookeeper_quorum": "zk:2181"}
    assert any("table bootstrap task" in a for a in bill(external).assumptions)
    assert not any("table bootstrap" in a for a in bill({}).assumptions)  # embedded: none


def test_a_size_change_changes_its_two_lines_only() -> None:
    before, _ = bill_lines({})
    after, total = bill_lines({"cpu": "2048", "memory_mib": "8192"})
    changed = {label for label in before.keys() | after.keys() if before.get(label) != after.get(label)}
    assert changed == {
        "Fargate ARM64 vCPU, all-in-one (1 task x 4 vCPU)",
        "Fargate ARM64 memory, all-in-one (1 task x 16 GiB)",
        "Fargate ARM64 vCPU, all-in-one (1 task x 2 vCPU)",
        "Fargate ARM64 memory, all-in-one (1 task x 8 GiB)",
    }
    assert after["Fargate ARM64 vCPU, all-in-one (1 task x 2 vCPU)"] == cents(2 * 730 * ARM_VCPU_H)  # 47.2748
    assert after["Fargate ARM64 memory, all-in-one (1 task x 8 GiB)"] == cents(8 * 730 * ARM_GB_H)  # 20.7904
    # 226.01 - (94.55 + 41.58) + (47.27 + 20.79) = 157.94
    assert total == "total: $157.94/month"


def test_lines_follow_the_settings() -> None:
    lines, _ = bill_lines(
        {
            "vpc_id": "vpc-0123456789abcdef0",
            "account": "123456789012",
            "collector_allowed_cidrs": "10.0.0.0/8",
            "hbase_storage": "efs",
            "container_insights": "disabled",
            "sample_app_enabled": "true",
            "cpu_architecture": "X86_64",
        }
    )
    assert not any(label.startswith(("NAT gateways", "Public IPv4")) for label in lines)  # an existing VPC
    assert lines["Collector NLB (1)"] == Decimal("16.43")  # 730 h x $0.0225
    assert lines["Collector NLB capacity, estimate (1 NLCU assumed)"] == Decimal("4.38")  # 730 x $0.006
    assert lines["EFS HBase data, estimate (50 GB assumed)"] == Decimal("15.00")  # 50 x $0.30
    # Elastic throughput: 100 GB read x $0.03 + 150 GB written x $0.06
    assert lines[
        "EFS Elastic throughput reads of the HBase data, estimate (100 GB a month assumed)"
    ] == Decimal("3.00")
    assert lines[
        "EFS Elastic throughput writes of the HBase data, estimate (150 GB a month assumed)"
    ] == Decimal("9.00")
    # 50 GB whole + 5 GB changed a day x 34 more days kept = 220 GB x $0.05
    assert lines[
        "AWS Backup of the HBase data, estimate (50 GB + 5 GB changed a day, daily backups kept "
        "backup_retention_days=35: 220 GB warm)"
    ] == Decimal("11.00")
    assert lines["Fargate X86_64 vCPU, sample app (1 task x 0.5 vCPU)"] == Decimal(
        "14.78"
    )  # 0.5 x 730 x $0.04048
    assert lines["Fargate X86_64 memory, sample app (1 task x 1 GiB)"] == Decimal("3.24")  # 730 x $0.004445
    assert not any(label.startswith("Container Insights") for label in lines)
    # without Container Insights the all-in-one has no ephemeral-storage alarm: 6, not 7
    assert lines["CloudWatch alarms (6)"] == Decimal("0.60")
    # no flow logs on a VPC the stack does not create: 2 tasks x 1 GB
    assert lines["CloudWatch Logs ingestion, estimate (1 GB per task assumed)"] == Decimal("1.00")


# Where a figure was read: a page (https://...) or a repository file (github.com/owner/repo ... path).
SOURCE = re.compile(r"^(https://\S+|github\.com/[\w.-]+/[\w.-]+(/blob/[0-9a-f]{40}/| )\S+)$")
# The date the source gives: a day, a month or a year; "undated" when it gives none.
AS_OF = re.compile(r"^(\d{4}(-\d{2}(-\d{2})?)?|undated)$")


def test_price_table_covers_the_regions_with_a_source_and_date_for_every_figure() -> None:
    table = json.loads(TABLE_FILE.read_text())
    assert set(table["regions"]) >= REQUIRED_REGIONS
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", table["compiled"])
    assert all(url.startswith("https://") for url in table["pages"].values())
    assert not set(QUERIES) & TABLE_ONLY
    keys = set(QUERIES) | TABLE_ONLY
    assert set(table["units"]) == keys
    figures = 0
    for region, prices in table["regions"].items():
        assert set(prices) == keys, region
        for key, entry in prices.items():
            entries = entry.values() if key in PER_INSTANCE else [entry]
            assert entries, (region, key)
            for figure in entries:
                if figure["usd"] is None:  # not found: said so, never guessed
                    assert set(figure) == {"usd", "note"}, (region, key)
                    assert figure["note"], (region, key)
                else:
                    figures += 1
                    assert figure["usd"] > 0, (region, key)
                    assert SOURCE.fullmatch(figure["source"]), (region, key, figure["source"])
                    assert AS_OF.fullmatch(figure["as_of"]), (region, key, figure["as_of"])
                    assert figure["as_of"] == "undated" or figure["as_of"] <= table["compiled"], (region, key)
                    assert figure["seen"], (region, key)
    assert figures >= 40


def test_which_regions_the_table_prices_completely() -> None:
    """The README's coverage statement: the default deployment has a total from the table in
    us-east-1 only; elsewhere `make cost` names what is missing (or use --source api)."""
    complete = {region for region in REQUIRED_REGIONS if not bill({}, region).missing}
    assert complete == {"us-east-1"}
    emr = {"hbase_mode": "emr", "emr_tls_certificates_s3_uri": EMR_CERTIFICATES}
    assert bill(emr).missing == ["emr_instance_hour m7g.xlarge"]  # the EMR fee: not found anywhere


def test_a_region_without_the_prices_a_deployment_needs_is_one_line_and_no_total(tmp_path: Path) -> None:
    result = run_cost("-c", "region=eu-central-1", env=offline_env(tmp_path))
    assert result.returncode == 1
    assert result.stdout == ""  # no lines, so no total to misread
    assert result.stderr.splitlines() == [
        "cost: error: cannot price this deployment in eu-central-1: no unit price for fargate_arm_vcpu_hour, "
        "fargate_arm_gb_hour, fargate_storage_gb_hour, nat_gateway_hour, alb_hour, alb_lcu_hour, "
        "efs_standard_gb_month, cw_alarm_month, cw_metric_month, logs_ingest_gb, logs_storage_gb_month in "
        "scripts/ops/prices/list-prices.json; --source api (AWS credentials allowed pricing:GetProducts) reads "
        "them from the AWS Price List API"
    ]


def test_one_missing_essential_price_is_enough_for_no_total(tmp_path: Path) -> None:
    prices = table_with(tmp_path, "us-east-1", "nat_gateway_hour")
    result = run_cost("--prices", str(prices), "-c", "region=us-east-1", env=offline_env(tmp_path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"cost: error: cannot price this deployment in us-east-1: no unit price for nat_gateway_hour in {prices}; "
        "--source api (AWS credentials allowed pricing:GetProducts) reads them from the AWS Price List API"
    ]


def test_an_immaterial_add_on_without_a_price_is_named_above_the_total(tmp_path: Path) -> None:
    assert {"cw_dashboard_month", "secret_month"} == IMMATERIAL  # flat, a few dollars at most
    prices = table_with(tmp_path, "us-east-1", "secret_month")
    result = run_cost("--prices", str(prices), "-c", "region=us-east-1", env=offline_env(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        f"  Secrets Manager secret (web admin password): not priced (secret_month is null in {prices}, "
        "us-east-1: removed for the test)"
    ) in lines
    assert lines[-2] == (
        "note: not priced and not in the total (immaterial add-ons): Secrets Manager secret (web admin password)"
    )
    assert lines[-1] == "total: $225.61/month"  # 226.01 without the $0.40 secret


def test_make_cost_prints_the_lines_then_the_total_offline(tmp_path: Path) -> None:
    result = run_cost("-c", "region=us-east-1", env=offline_env(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert TOTAL.fullmatch(lines[-1]), lines[-1]
    assert lines[-1] == "total: $226.01/month"
    assert "price table scripts/ops/prices/list-prices.json" in lines[1]
    assert "--source auto chose the table: no AWS credentials" in lines[1]
    priced = [LINE.fullmatch(line) for line in lines if line.startswith("  ") and ": $" in line]
    assert len(priced) == 15
    assert all(priced)
    assert sum(Decimal(m["usd"].replace(",", "")) for m in priced if m) == Decimal("226.01")


def test_the_region_comes_from_the_aws_cli_configuration_when_not_set(tmp_path: Path) -> None:
    result = run_cost("--source", "table", env=offline_env(tmp_path, AWS_REGION="us-east-1"))
    assert result.returncode == 0, result.stderr
    assert "in us-east-1 (region from the AWS CLI configuration)" in result.stdout.splitlines()[0]
    assert result.stdout.splitlines()[-1] == "total: $226.01/month"
    other = run_cost("--source", "table", env=offline_env(tmp_path, AWS_REGION="ap-northeast-2"))
    assert other.returncode == 1
    assert other.stderr.startswith("cost: error: cannot price this deployment in ap-northeast-2: ")


def test_an_unknown_region_is_one_clear_line(tmp_path: Path) -> None:
    result = run_cost("-c", "region=xx-yyyy-1", env=offline_env(tmp_path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "cost: error: no prices for region xx-yyyy-1 in scripts/ops/prices/list-prices.json (known: "
        "ap-northeast-1, ap-northeast-2, ap-southeast-1, eu-central-1, eu-west-1, us-east-1, us-west-2); "
        "--source api needs credentials"
    ]


def test_source_api_without_credentials_is_one_line(tmp_path: Path) -> None:
    result = run_cost("--source", "api", "-c", "region=us-east-1", env=offline_env(tmp_path))
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("cost: error: --source api needs AWS credentials: no AWS credentials found")


# --- the Price List API --------------------------------------------------------------------------


def product(
    service: str,
    usage: str,
    usd: str,
    *,
    family: str = "Compute",
    tiers: tuple[str, ...] = ("0",),
    **attributes: str,
) -> dict[str, Any]:
    """A GetProducts document as the AWS Price List API reference shows it (aws_v1)."""
    sku = f"SKU{abs(hash((service, usage, family))) % 10**8}"
    dimensions = {
        f"{sku}.JRTCKXETXF.{index}": {
            "unit": "Hrs",
            "beginRange": begin,
            "endRange": "Inf",
            "description": f"{usage} tier {index}",
            "pricePerUnit": {"USD": usd if index == 0 else "0.0000000001"},
        }
        for index, begin in enumerate(tiers)
    }
    return {
        "product": {
            "productFamily": family,
            "sku": sku,
            "attributes": {
                "servicecode": service,
                "regionCode": "us-east-1",
                "usagetype": usage,
                **attributes,
            },
        },
        "serviceCode": service,
        "terms": {"OnDemand": {f"{sku}.JRTCKXETXF": {"sku": sku, "priceDimensions": dimensions}}},
        "version": "20261101000000",
        "publicationDate": "2026-11-01T00:00:00Z",
    }


CATALOG = [
    product("AmazonECS", "USE1-Fargate-ARM-vCPU-Hours:perCPU", "0.0500000000"),
    product("AmazonECS", "USE1-Fargate-ARM-GB-Hours", "0.0050000000"),
    product("AmazonECS", "USE1-Fargate-EphemeralStorage-GB-Hours", "0.0002000000"),
    product("AmazonECS", "USE1-Fargate-vCPU-Hours:perCPU", "0.0600000000"),
    # decoys the usage-type match must refuse (same substring, another rate)
    product("AmazonEC2", "USE1-RegionalNatGateway-Hours", "9.9900000000", family="NAT Gateway"),
    product("AmazonEC2", "NatGateway-Hours", "0.0500000000", family="NAT Gateway"),
    product("AmazonVPC", "USE1-PublicIPv4:InUseAddress", "0.0050000000", family="VPC Public IPv4 Address"),
    product("AWSELB", "LoadBalancerUsage", "0.0300000000", family="Load Balancer-Application"),
    product("AWSELB", "USE1-LCUUsage", "0.0100000000", family="Load Balancer-Application"),
    product("AWSELB", "LoadBalancerUsage", "7.0000000000", family="Load Balancer-Network"),
    product("AmazonEFS", "TimedStorage-ByteHrs", "0.3000000000", family="Storage"),
    product(
        "AmazonEC2",
        "BoxUsage:m7g.xlarge",
        "0.2000000000",
        family="Compute Instance",
        instanceType="m7g.xlarge",
        operatingSystem="Linux",
        tenancy="Shared",
        preInstalledSw="NA",
        capacitystatus="Used",
    ),
    product(
        "ElasticMapReduce",
        "BoxUsage:m7g.xlarge",
        "0.0400000000",
        family="Elastic Map Reduce Instance",
        instanceType="m7g.xlarge",
    ),
    product("AmazonEC2", "EBS:VolumeUsage.gp3", "0.0800000000", family="Storage"),
    product("AmazonEC2", "EBS:VolumeUsage.gp2", "0.1200000000", family="Storage"),
    product("AmazonS3", "TimedStorage-ByteHrs", "0.0230000000", family="Storage", volumeType="Standard"),
    product("AWSSecretsManager", "AWSSecretsManager-Secrets", "0.4000000000", family="Secret"),
    product("AmazonCloudWatch", "CW:AlarmMonitorUsage", "0.1000000000", family="Alarm"),
    product("AmazonCloudWatch", "Global-CW:AlarmMonitorUsage", "0.0000000000", family="Alarm"),
    # tiers: the first 10,000 metrics at $0.30, then cheaper
    product(
        "AmazonCloudWatch", "CW:MetricMonitorUsage", "0.3000000000", family="Metric", tiers=("0", "10000")
    ),
    product("AmazonCloudWatch", "DataProcessing-Bytes", "0.5000000000", family="Data Payload"),
    product("AmazonCloudWatch", "TimedStorage-ByteHrs", "0.0300000000", family="Storage Snapshot"),
]


def matches(document: dict[str, Any], service: str, filters: list[dict[str, str]]) -> bool:
    item = document["product"]
    if document["serviceCode"] != service:
        return False
    for rule in filters:
        field = rule["Field"]
        actual = item.get(field) if field == "productFamily" else item["attributes"].get(field)
        if actual is None:
            return False
        if rule["Type"] == "TERM_MATCH" and actual != rule["Value"]:
            return False
        if rule["Type"] == "CONTAINS" and rule["Value"] not in actual:
            return False
    return True


@contextmanager
def price_list_api(*, deny: bool = False, page_size: int = 2) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A GetProducts endpoint on 127.0.0.1 (JSON 1.1, ``AWSPriceListService.GetProducts``): matching
    documents as JSON strings in ``PriceList``, ``page_size`` per page with ``NextToken``; or the
    AccessDeniedException document for every call. Yields its URL and the requests it saw."""
    seen: list[dict[str, Any]] = []

    class Handler(QuietRequestLog, BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            seen.append({"target": self.headers.get("X-Amz-Target"), **request})
            if deny:
                status = 400
                body = {
                    "__type": "AccessDeniedException",
                    "Message": "User is not authorized to perform pricing:GetProducts",
                }
            else:
                found = [d for d in CATALOG if matches(d, request["ServiceCode"], request.get("Filters", []))]
                start = int(request.get("NextToken") or 0)
                page = found[start : start + min(page_size, int(request.get("MaxResults") or 100))]
                status = 200
                body = {"FormatVersion": "aws_v1", "PriceList": [json.dumps(d) for d in page]}
                if start + len(page) < len(found):
                    body["NextToken"] = str(start + len(page))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    with loopback_server(Handler, name="price-list-api") as url:
        yield url, seen


def api_env(tmp_path: Path, endpoint: str) -> dict[str, str]:
    return offline_env(
        tmp_path,
        AWS_ENDPOINT_URL_PRICING=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )


def test_auto_uses_the_price_list_api_when_credentials_work(tmp_path: Path) -> None:
    with price_list_api() as (endpoint, seen):
        result = run_cost(
            "-c",
            "region=us-east-1",
            "-c",
            "hbase_mode=emr",
            "-c",
            f"emr_tls_certificates_s3_uri={EMR_CERTIFICATES}",
            env=api_env(tmp_path, endpoint),
        )
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert out[1].startswith(
        f"prices: AWS Price List API (GetProducts at {endpoint}), read now (--source auto chose the api"
    )
    assert {request["target"] for request in seen} == {"AWSPriceListService.GetProducts"}
    fargate = next(r for r in seen if r["ServiceCode"] == "AmazonECS")
    assert {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"} in fargate["Filters"]
    # 2 collectors x 2 vCPU x 730 h x $0.05 (the API's figure, not the table's $0.03238)
    assert "  Fargate ARM64 vCPU, collectors (2 tasks x 2 vCPU): $146.00 (2920 vCPU-h x $0.05)" in out
    # the EMR fee the table lacks: 2 x 730 h x $0.04
    assert "  EMR fee m7g.xlarge, core (2): $58.40 (1460 h x $0.04)" in out
    # gp2 from the API ($0.12, not the table's $0.10): 2 core nodes x 64 GiB
    assert (
        "  EBS data volumes, EMR core (2 x m7g.xlarge: 64 GiB each), priced as gp2: $15.36 (128 GB-month x $0.12)"
        in out
    )
    # NatGateway-Hours, not the RegionalNatGateway-Hours decoy: 730 h x $0.05
    assert "  NAT gateways (1): $36.50 (730 h x $0.05)" in out
    # the first metric tier: 55 x $0.30
    assert (
        "  Container Insights (enabled), estimate (55 custom metrics assumed): $16.50 (55 metric-month x $0.30)"
        in out
    )
    # dashboards are not in the regional Price List: the table's $3.00, and the line says so
    dashboard = next(line for line in out if line.startswith("  CloudWatch dashboard"))
    assert dashboard.endswith("x $3.00)")
    assert not any("not priced" in line for line in out)
    assert TOTAL.fullmatch(out[-1])


def test_what_neither_the_api_nor_the_table_prices_is_one_line(tmp_path: Path) -> None:
    """A region the table does not know: the API alone prices it, and here it answers nothing."""
    with price_list_api() as (endpoint, _seen):
        result = run_cost("-c", "region=xx-yyyy-1", env=api_env(tmp_path, endpoint))
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("cost: error: cannot price this deployment in xx-yyyy-1: no unit price for ")
    assert line.endswith(" in the AWS Price List API's answer or the price table")
    assert "fargate_arm_vcpu_hour" in line
    assert "cw_dashboard_month" not in line  # immaterial: not a reason to withhold a total


def test_a_denied_price_list_falls_back_to_the_table_and_says_why(tmp_path: Path) -> None:
    with price_list_api(deny=True) as (endpoint, _seen):
        auto = run_cost("-c", "region=us-east-1", env=api_env(tmp_path, endpoint))
        forced = run_cost("--source", "api", "-c", "region=us-east-1", env=api_env(tmp_path, endpoint))
    assert auto.returncode == 0, auto.stderr
    assert (
        "--source auto chose the table: the AWS Price List API failed for AmazonECS: AccessDeniedException"
        in (auto.stdout.splitlines()[1])
    )
    assert auto.stdout.splitlines()[-1] == "total: $226.01/month"
    assert forced.returncode == 1
    assert forced.stderr.splitlines() == [
        "cost: error: the AWS Price List API failed for AmazonECS: AccessDeniedException: "
        "User is not authorized to perform pricing:GetProducts"
    ]


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        (
            {},
            "embedded: one all-in-one task (HBase + collector + web, 4 vCPU / 16 GiB, 200 GiB ephemeral "
            "storage; HBase data on the task's ephemeral storage, lost with the task)",
        ),
        (
            {
                "hbase_mode": "emr",
                "emr_tls_certificates_s3_uri": EMR_CERTIFICATES,
                "emr_core_instance_count": "3",
                "collector_max_count": "8",
            },
            "emr: EMR HBase cluster (m7g.xlarge primary + m7g.xlarge x 3 core, emr-7.13.0, data on S3) + 2-8 "
            "collectors (2 vCPU / 4 GiB, autoscaled on 60% CPU) + 1 web",
        ),
        (
            {"hbase_mode": "external", "hbase_zookeeper_quorum": "zk1:2181,zk2:2181", "web_count": "2"},
            "external: your HBase at zk1:2181,zk2:2181 (znode /hbase) + 2-6 collectors (2 vCPU / 4 GiB, "
            "autoscaled on 60% CPU) + 2 web",
        ),
    ],
)
def test_make_deploy_names_the_topology(overrides: dict[str, str], line: str) -> None:
    assert topology(load_config(overrides)) == line


def test_the_preflight_prints_the_topology_before_its_checks(tmp_path: Path) -> None:
    """`diff` runs the same first checks as `deploy` without probing downloads or Docker."""
    result = subprocess.run(
        [
            sys.executable,
            "scripts/preflight.py",
            "diff",
            "-c",
            "hbase_mode=emr",
            "-c",
            f"emr_tls_certificates_s3_uri={EMR_CERTIFICATES}",
        ],
        cwd=REPO_ROOT,
        env=offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1  # no region, no credentials here
    assert result.stdout.splitlines()[0] == (
        "preflight: topology emr: EMR HBase cluster (m7g.xlarge primary + m7g.xlarge x 2 core, emr-7.13.0, "
        "data on S3) + 2-6 collectors (2 vCPU / 4 GiB, autoscaled on 60% CPU) + 1 web"
    )


# --- what make cost counts against what the stack creates --------------------------------------


@pytest.mark.parametrize("name", ALL_VARIANTS)
def test_the_alarms_and_metric_filters_priced_are_the_ones_the_stack_creates(name: str) -> None:
    """The bill's counts follow the monitoring construct in every variant (Container Insights off
    drops the ephemeral-storage alarm; the distributed services add their HBase failure alarms and
    metric filters), so a new alarm or filter cannot be left out of make cost."""
    overrides = ALL_VARIANTS[name]
    template = synth(**overrides)
    config = load_config(overrides, config_dir=ISOLATED_CONFIG_DIR)
    assert alarm_count(config) == len(template.find_resources("AWS::CloudWatch::Alarm"))
    assert metric_filter_count(config) == len(template.find_resources("AWS::Logs::MetricFilter"))


def backup_line(lines: dict[str, Decimal | None]) -> tuple[str, Decimal | None]:
    ((label, usd),) = [(label, usd) for label, usd in lines.items() if label.startswith("AWS Backup")]
    return label, usd


def test_the_backup_line_grows_with_the_retention() -> None:
    efs = {"hbase_storage": "efs"}
    changed = Decimal(50) * BACKUP_DAILY_CHANGE  # 5 GB a day
    for days, stored in ((1, 50), (35, 50 + 34 * 5), (365, 50 + 364 * 5)):
        label, usd = backup_line(bill_lines({**efs, "backup_retention_days": str(days)})[0])
        assert f"kept backup_retention_days={days}: {stored} GB warm" in label
        assert usd == cents((Decimal(50) + changed * (days - 1)) * BACKUP_GB_MONTH)
    assert backup_line(bill_lines({**efs, "backup_retention_days": "365"})[0])[1] == Decimal("93.50")


def test_efs_elastic_throughput_is_billed_only_where_hbase_lives_on_efs() -> None:
    on_efs, _ = bill_lines({"hbase_storage": "efs"})
    throughput = {label: usd for label, usd in on_efs.items() if "Elastic throughput" in label}
    assert throughput == {
        f"EFS Elastic throughput reads of the HBase data, estimate ({EFS_READ_GB} GB a month assumed)": cents(
            EFS_READ_GB * EFS_READ_GB_PRICE
        ),
        f"EFS Elastic throughput writes of the HBase data, estimate ({EFS_WRITE_GB} GB a month assumed)": cents(
            EFS_WRITE_GB * EFS_WRITE_GB_PRICE
        ),
    }
    ephemeral, _ = bill_lines({})
    assert not any("Elastic throughput" in label or label.startswith("AWS Backup") for label in ephemeral)


def test_the_emr_nodes_ebs_follows_their_instance_types() -> None:
    emr = {"hbase_mode": "emr", "emr_tls_certificates_s3_uri": EMR_CERTIFICATES}
    bigger = bill({**emr, "emr_core_instance_type": "m7g.2xlarge", "emr_core_instance_count": "3"})
    lines = {line.label: line.quantity for line in bigger.lines if line.label.startswith("EBS")}
    assert lines == {
        f"EBS gp3 root volumes of the EMR nodes (4 nodes x {EMR_ROOT_GIB} GiB)": Decimal(4 * EMR_ROOT_GIB),
        "EBS data volumes, EMR primary (1 x m7g.xlarge: 64 GiB each), priced as gp2": Decimal(64),
        "EBS data volumes, EMR core (3 x m7g.2xlarge: 128 GiB each), priced as gp2": Decimal(3 * 128),
    }
    with pytest.raises(ScriptError) as unknown:
        bill({**emr, "emr_core_instance_type": "m7g.medium"})
    assert str(unknown.value) == (
        "cannot price the EMR nodes' EBS: EMR's default EBS storage for m7g.medium is not known here (known "
        "sizes: large, xlarge, 2xlarge, 4xlarge, 8xlarge, 9xlarge, 10xlarge, 12xlarge, 16xlarge, 18xlarge, "
        "24xlarge; EMR Management Guide, Instance storage)"
    )
