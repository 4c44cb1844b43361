"""``make cost``: the configured deployment's monthly list price, line by line.

Quantities come from the settings (the schema ``cdk synth`` uses), unit prices from a
:class:`~scripts.ops.prices.PriceSource`: the shipped table (offline) or the AWS Price List API.
Every line is ``quantity x unit price``, rounded to cents; the total is the sum of the printed
lines. Whatever is usage-driven (LCUs, logs, metrics, stored data) is an estimate whose
assumption is printed. List prices: on-demand, USD, before tax, no free tier, no Savings Plans.

A total is printed only when it is complete: if a line the deployment needs has no unit price
(the table's figure is null, or the region lacks it), ``make cost`` prints no lines and fails in
one line naming the region and the missing unit prices (:class:`MissingPrices`). Only the flat
add-ons in :data:`IMMATERIAL` may stay unpriced; they are then named above the total.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from scripts.ops.aws import base_session
from scripts.ops.errors import ScriptError
from scripts.ops.prices import PER_INSTANCE, TABLE_FILE, PriceSource, TablePrices, UnitPrice, display_path
from scripts.ops.prices.select import price_source
from stacks.config import FALLBACK_REGION, PlatformConfig, resolve_environment

HOURS = Decimal(730)  # hours in a month, as the AWS Pricing Calculator counts them
CENT = Decimal("0.01")
FREE_EPHEMERAL_GIB = 20  # Fargate includes 20 GB of ephemeral storage per task (Fargate pricing page)

# --- assumptions for usage-driven lines (printed with the lines they drive) -------------------
LB_CAPACITY_UNITS = Decimal(1)  # average (N)LCUs: an internal UI and a few agents stay below one
AGENT_VOLUME_GB = Decimal("0.1")  # a few agent bundles of ~30 MB each on the agent EFS
HBASE_DATA_GB = Decimal(50)  # HBase data on EFS (hbase_storage=efs) or S3 (emr): grows with traffic
# hbase_storage=efs on Elastic throughput (efs_volume.py) bills every GB read and written. HBase
# writes its WAL, flushes and compactions (each compaction rewrites store files), and reads for
# queries and compactions: a quiet deployment's monthly guess.
EFS_READ_GB, EFS_WRITE_GB = Decimal(100), Decimal(150)
# AWS Backup keeps the first backup whole and each later one as what changed since. Compactions
# rewrite store files (a major compaction all of them, weekly by default), so a tenth of the data
# is assumed to change a day.
BACKUP_DAILY_CHANGE = Decimal("0.1")
# EMR's default EBS for an EBS-only instance (Graviton types are): the root volume, 15 GiB gp3
# with EMR 6.10+/6.15+ ("Customizing the Amazon EBS root device volume", EMR Management Guide),
# and data volumes by instance size ("Instance storage", "Default Amazon EBS storage for
# instances"; the page's table as a public EMR pricing tool transcribes it, EmrEbsDefaults; the
# search tool's copy of the page stops before the table). The page says "gp2 or gp3" for the
# data volumes without saying which when: they are priced as gp2, the dearer.
EMR_ROOT_GIB = 15
EMR_DATA_GIB_BY_SIZE = {
    "large": 32,
    "xlarge": 64,
    "2xlarge": 128,
    "4xlarge": 256,
    "8xlarge": 512,
    "9xlarge": 576,
    "10xlarge": 640,
    "12xlarge": 768,
    "16xlarge": 1024,
    "18xlarge": 1152,
    "24xlarge": 1536,
}
LOG_GB_PER_TASK = Decimal(1)  # CloudWatch Logs ingested per running task per month
FLOW_LOG_GB = Decimal(2)  # VPC flow logs of a new, quiet VPC per month
INSIGHTS_METRICS_CLUSTER, INSIGHTS_METRICS_SERVICE = 15, 20  # Container Insights custom metrics
DASHBOARDS = 1

# The one place that says which lines are essential: every line is, except these flat add-ons,
# a few dollars a month at most in any region (1 dashboard: $3.00, 1 secret: $0.40 in every
# region the table covers). Without an essential line's price there is no total (MissingPrices).
IMMATERIAL = frozenset({"cw_dashboard_month", "secret_month"})


class MissingPrices(ScriptError):
    """Lines the deployment needs have no unit price: no total can be given."""


@dataclass(frozen=True)
class Line:
    """``label``: ``quantity`` ``unit`` x ``price`` (the unit price of ``key`` [``kind``])."""

    label: str
    quantity: Decimal
    unit: str
    price: UnitPrice
    key: str = ""
    kind: str | None = None

    @property
    def unit_name(self) -> str:
        """``nat_gateway_hour`` or ``emr_instance_hour m7g.xlarge``: the table's key."""
        return f"{self.key} {self.kind}" if self.key in PER_INSTANCE else self.key

    @property
    def essential(self) -> bool:
        return self.key not in IMMATERIAL

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
    # Said when essential prices are missing: the region, who lacks them, and what prices them.
    region: str = "?"
    source: str = "the price source"
    remedy: str = ""

    @property
    def total(self) -> Decimal:
        return sum((line.usd for line in self.lines if line.usd is not None), Decimal(0))

    @property
    def missing(self) -> list[str]:
        """The unit prices that essential lines lack (``key`` or ``key instance-type``), once each."""
        return list(
            dict.fromkeys(line.unit_name for line in self.lines if line.essential and line.usd is None)
        )

    def render(self) -> list[str]:
        """The lines, then ``total: $<amount>/month``; :class:`MissingPrices` when no total can be given."""
        if missing := self.missing:
            raise MissingPrices(
                f"cannot price this deployment in {self.region}: no unit price for {', '.join(missing)} "
                f"in {self.source}" + (f"; {self.remedy}" if self.remedy else "")
            )
        out = [*self.header, *(line.render() for line in self.lines), *self.notes]
        out += [f"assumption: {text}" for text in self.assumptions]
        if unpriced := [line.label for line in self.lines if line.usd is None]:
            out.append(f"note: not priced and not in the total (immaterial add-ons): {'; '.join(unpriced)}")
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
    """The alarms the monitoring construct creates (tests/unit/test_ops_cost.py compares this with
    every synthesized variant): per watched ECS service no running task, CPU and memory, plus the
    all-in-one's ephemeral storage (only with Container Insights, which alone reports it) or the
    distributed services' failed HBase calls; the web target group's unhealthy hosts and 5xx; the
    agent distributor's failures."""
    if config.hbase_mode == "embedded":
        per_services = 3 + (config.container_insights != "disabled")
    else:
        per_services = 2 * (3 + 1)
    return per_services + 2 + 1


def metric_filter_count(config: PlatformConfig) -> int:
    """Log metric filters, each a custom metric: the agent distributor's "[ERROR]" lines, and the
    collector's and web's failed HBase calls in the distributed topology."""
    return 1 + (0 if config.hbase_mode == "embedded" else 2)


def emr_data_gib(instance_type: str) -> int:
    """EMR's default data EBS for an EBS-only instance type; one line if its size is not known."""
    size = instance_type.partition(".")[2]
    if size not in EMR_DATA_GIB_BY_SIZE:
        raise ScriptError(
            f"cannot price the EMR nodes' EBS: EMR's default EBS storage for {instance_type} is not known here "
            f"(known sizes: {', '.join(EMR_DATA_GIB_BY_SIZE)}; EMR Management Guide, Instance storage)"
        )
    return EMR_DATA_GIB_BY_SIZE[size]


class Lines:
    """Builds the bill's lines: ``add(label, quantity, unit, price key[, instance type])``."""

    def __init__(self, prices: PriceSource, bill: Bill) -> None:
        self.prices, self.bill = prices, bill

    def add(self, label: str, quantity: object, unit: str, key: str, kind: str | None = None) -> Line:
        line = Line(label, Decimal(str(quantity)), unit, self.prices.unit(key, kind), key, kind)
        self.bill.lines.append(line)
        return line


def fargate(out: Lines, config: PlatformConfig, service: Service) -> list[Line]:
    arch = "arm" if config.cpu_architecture == "ARM64" else "x86"
    tasks = Decimal(service.tasks)
    vcpu, gib = Decimal(service.cpu) / 1024, Decimal(service.memory_mib) / 1024
    where = f"{service.name} ({service.tasks} {'task' if service.tasks == 1 else 'tasks'} x"
    name = f"Fargate {config.cpu_architecture}"
    lines = [
        out.add(
            f"{name} vCPU, {where} {number(vcpu)} vCPU)",
            tasks * vcpu * HOURS,
            "vCPU-h",
            f"fargate_{arch}_vcpu_hour",
        ),
        out.add(
            f"{name} memory, {where} {number(gib)} GiB)",
            tasks * gib * HOURS,
            "GB-h",
            f"fargate_{arch}_gb_hour",
        ),
    ]
    if (extra := service.ephemeral_gib - FREE_EPHEMERAL_GIB) > 0:
        label = f"Fargate ephemeral storage above {FREE_EPHEMERAL_GIB} GiB, {where} {extra} GiB)"
        lines.append(out.add(label, tasks * extra * HOURS, "GB-h", "fargate_storage_gb_hour"))
    return lines


def compute(out: Lines, config: PlatformConfig) -> list[Service]:
    running = services(config)
    for service in running:
        fargate(out, config, service)
    if config.hbase_mode != "embedded" and config.collector_max_count > config.collector_min_count:
        more = config.collector_max_count - config.collector_min_count
        extra = Service("collectors", more, config.collector_cpu, config.collector_memory_mib)
        scratch = Lines(out.prices, Bill(header=[]))  # priced, not billed
        amounts = [line.usd for line in fargate(scratch, config, extra)]
        amount = "not priced" if None in amounts else f"up to ${sum(amounts, Decimal(0)):,.2f}/month more"
        out.bill.notes.append(
            f"  collectors scale on CPU up to collector_max_count={config.collector_max_count}: {amount}, "
            "not in the total"
        )
    if config.hbase_mode == "emr":
        groups = (
            ("primary", 1, config.emr_primary_instance_type),
            ("core", config.emr_core_instance_count, config.emr_core_instance_type),
        )
        for role, count, kind in groups:
            out.add(f"EC2 {kind}, EMR {role} ({count})", count * HOURS, "h", "ec2_instance_hour", kind)
        for role, count, kind in groups:
            out.add(f"EMR fee {kind}, {role} ({count})", count * HOURS, "h", "emr_instance_hour", kind)
        nodes = 1 + config.emr_core_instance_count
        label = f"EBS gp3 root volumes of the EMR nodes ({nodes} nodes x {EMR_ROOT_GIB} GiB)"
        out.add(label, nodes * EMR_ROOT_GIB, "GB-month", "ebs_gp3_gb_month")
        for role, count, kind in groups:
            gib = emr_data_gib(kind)
            label = f"EBS data volumes, EMR {role} ({count} x {kind}: {gib} GiB each), priced as gp2"
            out.add(label, count * gib, "GB-month", "ebs_gp2_gb_month")
        label = f"S3 storage of the HBase data, estimate ({HBASE_DATA_GB} GB assumed)"
        out.add(label, HBASE_DATA_GB, "GB-month", "s3_standard_gb_month")
    return running


def network(out: Lines, config: PlatformConfig) -> None:
    if config.vpc_id is None:
        nat = config.nat_gateways
        out.add(f"NAT gateways ({nat})", nat * HOURS, "h", "nat_gateway_hour")
        out.add(f"Public IPv4 addresses of the NAT gateways ({nat})", nat * HOURS, "h", "public_ipv4_hour")
        out.bill.assumptions.append(
            "NAT data processing (per GB) is extra; image layers use the free S3 endpoint"
        )
    else:
        out.bill.notes.append(f"  NAT gateways: none created (vpc_id={config.vpc_id}: its egress is its own)")
    capacity = LB_CAPACITY_UNITS * HOURS
    out.add("Internal ALB (1)", HOURS, "h", "alb_hour")
    out.add(
        f"Internal ALB capacity, estimate ({LB_CAPACITY_UNITS} LCU assumed)",
        capacity,
        "LCU-h",
        "alb_lcu_hour",
    )
    if config.collector_allowed_cidrs or config.collector_allowed_security_group_ids:
        out.add("Collector NLB (1)", HOURS, "h", "nlb_hour")
        label = f"Collector NLB capacity, estimate ({LB_CAPACITY_UNITS} NLCU assumed)"
        out.add(label, capacity, "NLCU-h", "nlb_lcu_hour")


def storage(out: Lines, config: PlatformConfig) -> None:
    label = f"EFS agent volume, estimate ({AGENT_VOLUME_GB} GB assumed)"
    out.add(label, AGENT_VOLUME_GB, "GB-month", "efs_standard_gb_month")
    if config.hbase_mode == "embedded" and config.hbase_storage == "efs":
        label = f"EFS HBase data, estimate ({HBASE_DATA_GB} GB assumed)"
        out.add(label, HBASE_DATA_GB, "GB-month", "efs_standard_gb_month")
        label = f"EFS Elastic throughput reads of the HBase data, estimate ({EFS_READ_GB} GB a month assumed)"
        out.add(label, EFS_READ_GB, "GB", "efs_elastic_read_gb")
        label = (
            f"EFS Elastic throughput writes of the HBase data, estimate ({EFS_WRITE_GB} GB a month assumed)"
        )
        out.add(label, EFS_WRITE_GB, "GB", "efs_elastic_write_gb")
        retention = config.backup_retention_days
        changed = HBASE_DATA_GB * BACKUP_DAILY_CHANGE
        stored = HBASE_DATA_GB + changed * (retention - 1)
        label = (
            f"AWS Backup of the HBase data, estimate ({HBASE_DATA_GB} GB + {number(changed)} GB changed a day, "
            f"daily backups kept backup_retention_days={retention}: {number(stored)} GB warm)"
        )
        out.add(label, stored, "GB-month", "backup_efs_warm_gb_month")
        out.bill.assumptions.append(
            f"AWS Backup keeps the first backup whole and then what changed: {number(BACKUP_DAILY_CHANGE * 100)} % "
            "of the HBase data a day assumed (compactions rewrite store files)"
        )
    out.add("Secrets Manager secret (web admin password)", 1, "secret-month", "secret_month")


def observability(out: Lines, config: PlatformConfig, running: list[Service]) -> None:
    alarms = alarm_count(config)
    out.add(f"CloudWatch alarms ({alarms})", alarms, "alarm-month", "cw_alarm_month")
    filters = metric_filter_count(config)
    label = f"CloudWatch custom metrics of the log metric filters ({filters}), at most"
    out.add(label, filters, "metric-month", "cw_metric_month")
    out.bill.assumptions.append(
        "a log metric filter's metric is billed for the hours it publishes, which is only when a line matches: "
        "priced as a whole month"
    )
    out.add(f"CloudWatch dashboard ({DASHBOARDS})", DASHBOARDS, "dashboard-month", "cw_dashboard_month")
    flows = config.vpc_id is None  # flow logs only on a VPC the stack creates
    ingest = sum(s.tasks for s in running) * LOG_GB_PER_TASK + (FLOW_LOG_GB if flows else 0)
    flow = f" + {FLOW_LOG_GB} GB of VPC flow logs" if flows else ""
    label = f"CloudWatch Logs ingestion, estimate ({LOG_GB_PER_TASK} GB per task{flow} assumed)"
    out.add(label, ingest, "GB", "logs_ingest_gb")
    stored = (ingest * config.log_retention_days / 30).quantize(CENT)  # steady state, 30-day months
    label = f"CloudWatch Logs storage, estimate (kept log_retention_days={config.log_retention_days})"
    out.add(label, stored, "GB-month", "logs_storage_gb_month")
    if config.container_insights != "disabled":
        metrics = INSIGHTS_METRICS_CLUSTER + INSIGHTS_METRICS_SERVICE * len(running)
        label = (
            f"Container Insights ({config.container_insights}), estimate ({metrics} custom metrics assumed)"
        )
        out.add(label, metrics, "metric-month", "cw_metric_month")
        out.bill.assumptions.append(
            f"Container Insights: {INSIGHTS_METRICS_CLUSTER} metrics per cluster + {INSIGHTS_METRICS_SERVICE} "
            "per service, billed as custom metrics (enhanced observability is billed per observation: "
            "not modelled beyond that)"
        )


def estimate(
    config: PlatformConfig, prices: PriceSource, *, header: list[str], source: str = "", remedy: str = ""
) -> Bill:
    """Every line of the monthly bill for ``config`` (see the module docstring)."""
    bill = Bill(header=header, region=prices.region, source=source or prices.description, remedy=remedy)
    out = Lines(prices, bill)
    running = compute(out, config)
    network(out, config)
    storage(out, config)
    observability(out, config, running)
    not_counted = (
        "data transfer, NAT data processing, requests, SNS deliveries and EventBridge matches are not counted"
    )
    if config.hbase_mode != "embedded":  # only these modes run a table bootstrap task
        not_counted += "; the table bootstrap task runs minutes per deploy"
    bill.assumptions.append(f"{HOURS} h a month; usage-driven lines are estimates; {not_counted}")
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


def report(
    config: PlatformConfig, *, source: str, profile: str | None, table: Path = TABLE_FILE
) -> list[str]:
    """The lines ``make cost`` prints; the last is ``total: $<amount>/month``. Without a price for
    a line the deployment needs: :class:`MissingPrices` (one line), no lines and no total."""
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
    if isinstance(prices, TablePrices):
        lacks = display_path(prices.path)
        remedy = "--source api (AWS credentials allowed pricing:GetProducts) reads them from the AWS Price List API"
    else:
        lacks, remedy = "the AWS Price List API's answer or the price table", ""
    return estimate(config, prices, header=header, source=lacks, remedy=remedy).render()
