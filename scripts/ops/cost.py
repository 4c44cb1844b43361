"""``make cost``: the configured deployment's monthly list price, line by line.

Quantities come from the settings (the schema ``cdk synth`` uses), unit prices from a
:class:`~scripts.ops.prices.PriceSource`: the shipped table (offline) or the AWS Price List API.
Every line is ``quantity x unit price``, rounded to cents; the total is the sum of the printed
lines. Whatever is usage-driven (LCUs, logs, metrics, stored data) is an estimate whose
assumption is printed. List prices: on-demand, USD, before tax, no free tier, no Savings Plans.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import botocore.exceptions

from scripts.ops.aws import NO_CREDENTIALS, base_session
from scripts.ops.errors import ScriptError, one_line
from scripts.ops.prices import TABLE_FILE, PriceSource, TablePrices, UnitPrice
from scripts.ops.prices.api import ApiPrices, PriceListError
from stacks.config import FALLBACK_REGION, PlatformConfig, resolve_environment

HOURS = Decimal(730)  # hours in a month, as the AWS Pricing Calculator counts them
CENT = Decimal("0.01")
FREE_EPHEMERAL_GIB = 20  # Fargate includes 20 GB of ephemeral storage per task (Fargate pricing page)
SOURCES = ("auto", "api", "table")

# --- assumptions for usage-driven lines (printed with the lines they drive) -------------------
LB_CAPACITY_UNITS = Decimal(1)  # average (N)LCUs: an internal UI and a few agents stay below one
AGENT_VOLUME_GB = Decimal("0.1")  # a few agent bundles of ~30 MB each on the agent EFS
HBASE_DATA_GB = Decimal(50)  # HBase data on EFS (hbase_storage=efs) or S3 (emr): grows with traffic
EMR_EBS_GIB_PER_NODE = Decimal(64)  # EBS gp3 per EMR node (root + HDFS scratch; check EbsConfiguration)
LOG_GB_PER_TASK = Decimal(1)  # CloudWatch Logs ingested per running task per month
FLOW_LOG_GB = Decimal(2)  # VPC flow logs of a new, quiet VPC per month
INSIGHTS_METRICS_CLUSTER, INSIGHTS_METRICS_SERVICE = 15, 20  # Container Insights custom metrics
DASHBOARDS = 1


@dataclass(frozen=True)
class Line:
    """``label``: ``quantity`` ``unit`` x ``price``."""

    label: str
    quantity: Decimal
    unit: str
    price: UnitPrice

    @property
    def usd(self) -> Decimal | None:
        if self.price.usd is None:
            return None
        return (self.quantity * self.price.usd).quantize(CENT, rounding=ROUND_HALF_UP)

    def render(self) -> str:
        if self.usd is None:
            return f"  {self.label}: not priced ({self.price.note})"
        return f"  {self.label}: ${self.usd:,.2f} ({number(self.quantity)} {self.unit} x {dollars(self.price.usd)})"


@dataclass
class Bill:
    header: list[str]
    lines: list[Line] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # info lines (not costs), printed after the lines
    assumptions: list[str] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((line.usd for line in self.lines if line.usd is not None), Decimal(0))

    def render(self) -> list[str]:
        out = [*self.header, *(line.render() for line in self.lines), *self.notes]
        out += [f"assumption: {text}" for text in self.assumptions]
        if unpriced := [line.label for line in self.lines if line.usd is None]:
            out.append(
                f"note: {len(unpriced)} line(s) not priced and not in the total ({'; '.join(unpriced)}); "
                "--source api reads them from the AWS Price List API"
            )
        out.append(f"total: ${self.total:,.2f}/month")
        return out


def number(value: Decimal) -> str:
    """``2920``, ``0.1``, ``0.03238``: no exponent, no trailing zeros."""
    text = f"{value.normalize():f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def dollars(price: Decimal) -> str:
    """``$0.03238``, ``$0.30``, ``$3.00``: a unit price with at least cents."""
    text = number(price)
    decimals = len(text.partition(".")[2])
    return f"${text}" if decimals >= 2 else f"${price:.2f}"


@dataclass(frozen=True)
class Service:
    name: str
    tasks: int
    cpu: int
    memory_mib: int
    ephemeral_gib: int = FREE_EPHEMERAL_GIB


def services(config: PlatformConfig) -> list[Service]:
    """The Fargate services the stack runs, with their task counts (collectors at their minimum)."""
    if config.hbase_mode == "embedded":
        found = [Service("all-in-one", 1, config.cpu, config.memory_mib, config.ephemeral_storage_gib)]
    else:  # nothing stored locally: collector and web tasks keep Fargate's included storage
        found = [
            Service(
                "collectors", config.collector_min_count, config.collector_cpu, config.collector_memory_mib
            ),
            Service("web", config.web_count, config.web_cpu, config.web_memory_mib),
        ]
    if config.sample_app_enabled:
        found.append(Service("sample app", 1, config.sample_app_cpu, config.sample_app_memory_mib))
    return found


def alarm_count(config: PlatformConfig) -> int:
    """Alarms of the monitoring construct (phase-2 contract): per watched ECS service running
    tasks, CPU and memory (+ ephemeral storage for the all-in-one), the web target group's
    unhealthy hosts and 5xx, and the agent distributor's errors."""
    per_services = 4 if config.hbase_mode == "embedded" else 2 * 3
    return per_services + 2 + 1


def fargate_lines(config: PlatformConfig, service: Service, prices: PriceSource) -> Iterator[Line]:
    arch = "arm" if config.cpu_architecture == "ARM64" else "x86"
    tasks = Decimal(service.tasks)
    vcpu, gib = Decimal(service.cpu) / 1024, Decimal(service.memory_mib) / 1024
    plural = "task" if service.tasks == 1 else "tasks"
    where = f"{service.name} ({service.tasks} {plural} x"
    yield Line(
        f"Fargate {config.cpu_architecture} vCPU, {where} {number(vcpu)} vCPU)",
        tasks * vcpu * HOURS,
        "vCPU-h",
        prices.unit(f"fargate_{arch}_vcpu_hour"),
    )
    yield Line(
        f"Fargate {config.cpu_architecture} memory, {where} {number(gib)} GiB)",
        tasks * gib * HOURS,
        "GB-h",
        prices.unit(f"fargate_{arch}_gb_hour"),
    )
    if service.ephemeral_gib > FREE_EPHEMERAL_GIB:
        extra = service.ephemeral_gib - FREE_EPHEMERAL_GIB
        yield Line(
            f"Fargate ephemeral storage above {FREE_EPHEMERAL_GIB} GiB, {where} {extra} GiB)",
            tasks * extra * HOURS,
            "GB-h",
            prices.unit("fargate_storage_gb_hour"),
        )


def emr_lines(config: PlatformConfig, prices: PriceSource) -> Iterator[Line]:
    groups = (
        ("primary", 1, config.emr_primary_instance_type),
        ("core", config.emr_core_instance_count, config.emr_core_instance_type),
    )
    for role, count, kind in groups:
        yield Line(
            f"EC2 {kind}, EMR {role} ({count})", count * HOURS, "h", prices.unit("ec2_instance_hour", kind)
        )
    for role, count, kind in groups:
        yield Line(
            f"EMR fee {kind}, {role} ({count})", count * HOURS, "h", prices.unit("emr_instance_hour", kind)
        )
    nodes = 1 + config.emr_core_instance_count
    yield Line(
        f"EBS gp3 on the EMR nodes, estimate ({nodes} nodes x {EMR_EBS_GIB_PER_NODE} GiB assumed)",
        nodes * EMR_EBS_GIB_PER_NODE,
        "GB-month",
        prices.unit("ebs_gp3_gb_month"),
    )
    yield Line(
        f"S3 storage of the HBase data, estimate ({HBASE_DATA_GB} GB assumed)",
        HBASE_DATA_GB,
        "GB-month",
        prices.unit("s3_standard_gb_month"),
    )


def estimate(config: PlatformConfig, prices: PriceSource, *, header: list[str]) -> Bill:
    """Every line of the monthly bill for ``config`` (see the module docstring)."""
    bill = Bill(header=header)
    add = bill.lines.append
    running = services(config)
    for service in running:
        bill.lines.extend(fargate_lines(config, service, prices))
    if config.hbase_mode != "embedded" and config.collector_max_count > config.collector_min_count:
        extra = Service(
            "collectors",
            config.collector_max_count - config.collector_min_count,
            config.collector_cpu,
            config.collector_memory_mib,
        )
        more = [line.usd for line in fargate_lines(config, extra, prices)]
        amount = (
            f"up to ${sum(more, Decimal(0)):,.2f}/month more" if None not in more else "more (not priced)"
        )
        bill.notes.append(
            f"  collectors scale on CPU up to collector_max_count={config.collector_max_count}: {amount}, not in the total"
        )
    if config.hbase_mode == "emr":
        bill.lines.extend(emr_lines(config, prices))
    if config.vpc_id is None:
        nat = config.nat_gateways
        add(Line(f"NAT gateways ({nat})", nat * HOURS, "h", prices.unit("nat_gateway_hour")))
        add(
            Line(
                f"Public IPv4 addresses of the NAT gateways ({nat})",
                nat * HOURS,
                "h",
                prices.unit("public_ipv4_hour"),
            )
        )
        bill.assumptions.append(
            "NAT data processing (per GB) is extra; image layers use the free S3 gateway endpoint"
        )
    else:
        bill.notes.append(f"  NAT gateways: none created (vpc_id={config.vpc_id}: egress is that VPC's own)")
    add(Line("Internal ALB (1)", HOURS, "h", prices.unit("alb_hour")))
    add(
        Line(
            f"Internal ALB capacity, estimate ({LB_CAPACITY_UNITS} LCU assumed)",
            LB_CAPACITY_UNITS * HOURS,
            "LCU-h",
            prices.unit("alb_lcu_hour"),
        )
    )
    if config.collector_allowed_cidrs or config.collector_allowed_security_group_ids:
        add(Line("Collector NLB (1)", HOURS, "h", prices.unit("nlb_hour")))
        add(
            Line(
                f"Collector NLB capacity, estimate ({LB_CAPACITY_UNITS} NLCU assumed)",
                LB_CAPACITY_UNITS * HOURS,
                "NLCU-h",
                prices.unit("nlb_lcu_hour"),
            )
        )
    add(
        Line(
            f"EFS agent volume, estimate ({AGENT_VOLUME_GB} GB assumed)",
            AGENT_VOLUME_GB,
            "GB-month",
            prices.unit("efs_standard_gb_month"),
        )
    )
    if config.hbase_mode == "embedded" and config.hbase_storage == "efs":
        add(
            Line(
                f"EFS HBase data, estimate ({HBASE_DATA_GB} GB assumed)",
                HBASE_DATA_GB,
                "GB-month",
                prices.unit("efs_standard_gb_month"),
            )
        )
        add(
            Line(
                f"AWS Backup of the HBase data, estimate ({HBASE_DATA_GB} GB warm assumed, daily, kept {config.backup_retention_days} days)",
                HBASE_DATA_GB,
                "GB-month",
                prices.unit("backup_efs_warm_gb_month"),
            )
        )
    add(
        Line(
            "Secrets Manager secret (web admin password)",
            Decimal(1),
            "secret-month",
            prices.unit("secret_month"),
        )
    )
    alarms = alarm_count(config)
    add(Line(f"CloudWatch alarms ({alarms})", Decimal(alarms), "alarm-month", prices.unit("cw_alarm_month")))
    add(
        Line(
            f"CloudWatch dashboard ({DASHBOARDS})",
            Decimal(DASHBOARDS),
            "dashboard-month",
            prices.unit("cw_dashboard_month"),
        )
    )
    tasks = sum(service.tasks for service in running)
    ingest = tasks * LOG_GB_PER_TASK + (FLOW_LOG_GB if config.vpc_id is None else 0)
    flow = f" + {FLOW_LOG_GB} GB of VPC flow logs" if config.vpc_id is None else ""
    add(
        Line(
            f"CloudWatch Logs ingestion, estimate ({LOG_GB_PER_TASK} GB per task{flow} assumed)",
            ingest,
            "GB",
            prices.unit("logs_ingest_gb"),
        )
    )
    stored = (ingest * config.log_retention_days / 30).quantize(CENT)
    add(
        Line(
            f"CloudWatch Logs storage, estimate (kept log_retention_days={config.log_retention_days})",
            stored,
            "GB-month",
            prices.unit("logs_storage_gb_month"),
        )
    )
    if config.container_insights != "disabled":
        metrics = INSIGHTS_METRICS_CLUSTER + INSIGHTS_METRICS_SERVICE * len(running)
        add(
            Line(
                f"Container Insights ({config.container_insights}), estimate ({metrics} custom metrics assumed)",
                Decimal(metrics),
                "metric-month",
                prices.unit("cw_metric_month"),
            )
        )
        bill.assumptions.append(
            f"Container Insights: {INSIGHTS_METRICS_CLUSTER} metrics per cluster + {INSIGHTS_METRICS_SERVICE} per service, "
            "billed as custom metrics (enhanced observability is billed per observation: not modelled beyond that)"
        )
    bill.assumptions.append(
        f"{HOURS} h a month; usage-driven lines are estimates ({LB_CAPACITY_UNITS} LCU, logs, metrics, stored data); "
        "data transfer, NAT data processing and requests are not counted; the bootstrap task runs minutes per deploy"
    )
    return bill


def resolve_region(config: PlatformConfig, *, profile: str | None) -> tuple[str, str]:
    """The region the deploy would use, and where it came from: the settings, else the AWS CLI's
    (profile/environment, as the CDK CLI reads it), else the stack's own fallback."""
    if config.region:
        return config.region, "settings"
    try:
        cli_region = base_session(profile=profile).region_name
    except ScriptError:
        cli_region = None
    environ = {"CDK_DEFAULT_REGION": cli_region} if cli_region else {}
    region = str(resolve_environment(config, environ).region)
    if cli_region:
        return region, "AWS CLI configuration"
    return region, "fallback" if region == FALLBACK_REGION else "certificate_arn"


def price_source(
    source: str, region: str, *, profile: str | None, table: Path = TABLE_FILE
) -> tuple[PriceSource, str | None]:
    """The prices to use and, in ``auto`` mode, why the table was chosen (``None`` otherwise)."""
    if source == "table":
        return TablePrices(region, table), None
    try:
        session = base_session(profile=profile)
        credentials = session.get_credentials()
    except (ScriptError, botocore.exceptions.BotoCoreError) as error:  # e.g. a profile that does not exist
        if source == "api":
            raise ScriptError(f"--source api: {one_line(error)}") from None
        return TablePrices(region, table), f"the AWS credentials cannot be loaded ({one_line(error)})"
    if credentials is None:
        if source == "api":
            raise ScriptError(f"--source api needs AWS credentials: {NO_CREDENTIALS}")
        return TablePrices(region, table), "no AWS credentials"
    try:
        fallback: PriceSource | None = TablePrices(region, table)
    except ScriptError:
        fallback = None  # a region the table does not know: the API alone prices it
    api = ApiPrices(session, region, fallback=fallback)
    try:
        api.unit("fargate_arm_vcpu_hour")  # proves the credentials and the endpoint once
    except PriceListError as error:
        if source == "api":
            raise
        return TablePrices(region, table), str(error)
    return api, None


def report(
    config: PlatformConfig, *, source: str, profile: str | None, table: Path = TABLE_FILE
) -> list[str]:
    """The lines ``make cost`` prints; the last is ``total: $<amount>/month``."""
    region, origin = resolve_region(config, profile=profile)
    prices, why = price_source(source, region, profile=profile, table=table)
    used = "table" if isinstance(prices, TablePrices) else "api"
    chosen = (
        f"--source {source}"
        if source != "auto"
        else f"--source auto chose the {used}" + (f": {why}" if why else "")
    )
    header = [
        f"Monthly list price of stack {config.stack_name} in {region} (region from the {origin}), "
        f"hbase_mode={config.hbase_mode}: on-demand USD, before tax, without free tiers",
        f"prices: {prices.description} ({chosen})",
    ]
    return estimate(config, prices, header=header).render()
