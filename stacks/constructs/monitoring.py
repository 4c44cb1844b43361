"""Operations monitoring: one encrypted SNS topic, alarms named ``<name_prefix>-<signal>``,
EventBridge notifications named the same way (stacks/constructs/notifications.py), one
CloudWatch dashboard showing the alarms.

Reusable for every service of a topology: :meth:`Monitoring.watch_service` (an ECS service),
:meth:`Monitoring.watch_target_group` (an ALB target group), :meth:`Monitoring.watch_function`
(a Lambda function, e.g. a custom resource's) and :meth:`Monitoring.watch_hbase_client` (a
collector or web service's failed HBase calls) each add their alarms, send them to the one topic
(ALARM and OK) and add a row to the dashboard.

Events nothing measures are notified as they happen: ``notifications``
(stacks/constructs/notifications.py) adds EventBridge rules to the same topic.

Every publisher may publish: the topic's key policy and topic policy each allow CloudWatch alarms
(``<name_prefix>-*``) and EventBridge rules (``<name_prefix>-*``) of this account, and nothing
else (tests/unit/test_alarm_topic_publishers.py walks every reference to the topic).

Missing data, decided per signal:

* "no running task" treats missing data as BREACHING. ECS and Container Insights publish
  nothing for a service without RUNNING tasks ("If a cluster, service, or other resource has no
  running tasks, no metrics will be reported", ECS developer guide, "Amazon ECS CloudWatch
  metrics"; the same for Container Insights, "Monitor Amazon ECS containers using Container
  Insights"), so a stopped service shows up as missing data, which must alarm.
* every other alarm treats missing data as NOT_BREACHING: no task means no CPU, memory or disk
  figures (the alarm above fires instead); ALB and Lambda publish their counts only when there
  were requests or invocations, and no traffic is not an error.
"""

from __future__ import annotations

import math

from aws_cdk import Annotations, Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.config import PlatformConfig
from stacks.constructs.naming import pascal_case
from stacks.constructs.notifications import Notifications

CONTAINER_INSIGHTS_NAMESPACE = "ECS/ContainerInsights"
# Metrics this project derives from logs (metric filters); the name carries the name_prefix.
CUSTOM_NAMESPACE = "PinpointOnFargate"

# The settings say "above" / "fuller than": the threshold itself does not alarm.
ABOVE = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
MINUTE = Duration.minutes(1)
FIVE_MINUTES = Duration.minutes(5)
# No RUNNING task for this many consecutive minutes. A replacement (stop of at most 120 s, image
# pull, start) fits inside; a service that stays down does not.
NO_TASK_MINUTES = 10
# CPU and memory: the 5-minute average above the setting for 15 minutes (compactions and GC
# bursts are normal and short).
UTILIZATION_PERIODS = 3
# Disk fills slowly but compactions write temporary files: above the setting for 10 minutes.
STORAGE_PERIODS = 2
# Unhealthy targets are normal while a task boots (up to the ECS grace period); this many minutes
# more before it alarms.
UNHEALTHY_MARGIN_MINUTES = 5
# 5xx answers (the target's and the ALB's own, e.g. 502/503 without a healthy target) in 5 minutes.
HTTP_5XX_THRESHOLD = 5
# Lambda's Python runtime prefixes every logging record with its level in its text format
# ("[%(levelname)s]\t%(asctime)s...", awslambdaric/bootstrap.py _setup_logging). The agent
# distributor logs "[ERROR]" whenever it answers CloudFormation FAILED (handler.py), which the
# function's own Errors metric does not count: the handler returns normally after answering.
ERROR_LOG_PATTERN = logs.FilterPattern.literal('"[ERROR]"')
# The HBase client gives up on a call with RetriesExhaustedException (or its subclass
# RetriesExhaustedWithDetailsException) both when its retries run out and when the operation
# timeout passes (hbase-client branch-2.6 AsyncRpcRetryingCaller.completeExceptionally,
# AsyncBatchRpcRetryingCaller, RpcRetryingCallerImpl). Pinpoint logs it with its stack trace: the
# collector's asynchronous trace writes at WARN "<table> <mutation> failed" (its HbasePutWriter,
# commons-hbase v3.1.0 LoggingHbasePutWriter -> ResultLoggingListener), the web's failed requests
# at WARN (web v3.1.0 CustomExceptionHandler); the image logs both to stdout
# (images/pinpoint/conf/log4j2-console.xml), i.e. CloudWatch Logs.
HBASE_FAILURE_LOG_PATTERN = logs.FilterPattern.literal('"RetriesExhausted"')
# Failed HBase calls in two 5-minute periods in a row: an outage, not one slow region move.
HBASE_FAILURE_PERIODS = 2


class Monitoring(Construct):
    """Exposes ``topic`` (encrypted, TLS only; ``alarm_email`` subscribed), ``dashboard``,
    ``alarms`` (alarm name -> alarm, every alarm created through the watch methods) and
    ``notifications`` (EventBridge rules to the same topic)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PlatformConfig) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._prefix = config.name_prefix
        self.container_insights = config.container_insights != "disabled"
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self.topic = self._alarm_topic(config)
        # Rules in this construct's scope: their logical ids stay where they were.
        self.notifications = Notifications(self, topic=self.topic, prefix=self._prefix)
        self._action = actions.SnsAction(self.topic)
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            # Dashboards are per account, not per region: the region keeps two deployments apart.
            dashboard_name=f"{self._prefix}-{Stack.of(self).region}",
            default_interval=Duration.hours(6),
        )

    def _alarm_topic(self, config: PlatformConfig) -> sns.Topic:
        # CloudWatch alarms cannot use the AWS managed key alias/aws/sns (its policy does not let
        # them call kms:Decrypt/GenerateDataKey): a customer managed key whose policy allows them
        # (AWS Knowledge Center, "cloudwatch-configure-alarm-sns").
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description=f"Encrypts the {config.name_prefix} alarm topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        topic = sns.Topic(
            self,
            "AlarmTopic",
            topic_name=f"{config.name_prefix}-alarms",
            display_name=f"Pinpoint alarms ({config.name_prefix})",
            master_key=key,
            enforce_ssl=True,  # topic policy: deny every request without TLS
        )
        self._allow_publishers(key, topic)
        if config.alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        return topic

    def _allow_publishers(self, key: kms.Key, topic: sns.Topic) -> None:
        """Each service that publishes to the topic needs both: its key policy lets the service
        encrypt the message (SNS developer guide, "Enable compatibility between event sources
        from AWS services and encrypted topics": kms:GenerateDataKey* and kms:Decrypt), and the
        topic policy, which replaces SNS's default one, lets it publish -- for this account's
        alarms and rules named ``<name_prefix>-*`` only (the source ARN of an EventBridge delivery
        is the rule's ARN, EventBridge user guide, "Using resource-based policies for Amazon
        EventBridge")."""
        prefix, partition, region, account = self._prefix, Aws.PARTITION, Aws.REGION, Aws.ACCOUNT_ID
        publishers = {
            "CloudWatchAlarms": (
                "cloudwatch.amazonaws.com",
                f"arn:{partition}:cloudwatch:{region}:{account}:alarm:{prefix}-*",
            ),
            "EventBridgeRules": (
                "events.amazonaws.com",
                f"arn:{partition}:events:{region}:{account}:rule/{prefix}-*",
            ),
        }
        for sid, (service, source_arn) in publishers.items():
            key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"{sid}UseTheKey",
                    principals=[iam.ServicePrincipal(service)],
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    resources=["*"],
                )
            )
            topic.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"{sid}Publish",
                    principals=[iam.ServicePrincipal(service)],
                    actions=["sns:Publish"],
                    resources=[topic.topic_arn],
                    conditions={
                        "StringEquals": {"aws:SourceAccount": account},
                        "ArnLike": {"aws:SourceArn": source_arn},
                    },
                )
            )

    # --- what to watch ---------------------------------------------------------------------------
    def watch_service(
        self, service: ecs.BaseService, *, label: str | None = None, ephemeral_storage: bool = True
    ) -> list[cloudwatch.Alarm]:
        """No running task, CPU and memory high (settings ``alarm_cpu_percent`` /
        ``alarm_memory_percent``) and, with ``ephemeral_storage``, the task's ephemeral storage
        fuller than ``alarm_ephemeral_storage_percent``. ``label`` goes into the alarm names
        (``<name_prefix>-<label>-<signal>``); without one they are ``<name_prefix>-<signal>``."""
        dimensions = {"ClusterName": service.cluster.cluster_name, "ServiceName": service.service_name}
        alarms = [self._no_running_task(service, label, dimensions)]
        alarms.append(
            self._alarm(
                self._name(label, "cpu-high"),
                # AWS/ECS service utilization: free, with or without Container Insights; the
                # percentage of the task definition's CPU the service's tasks use.
                service.metric_cpu_utilization(statistic="Average", period=FIVE_MINUTES),
                threshold=self._config.alarm_cpu_percent,
                comparison=ABOVE,
                periods=UTILIZATION_PERIODS,
                description=f"Tasks of {service.service_name} used more than {self._config.alarm_cpu_percent} % "
                "of their CPU for 15 minutes.",
            )
        )
        alarms.append(
            self._alarm(
                self._name(label, "memory-high"),
                service.metric_memory_utilization(statistic="Average", period=FIVE_MINUTES),
                threshold=self._config.alarm_memory_percent,
                comparison=ABOVE,
                periods=UTILIZATION_PERIODS,
                description=f"Tasks of {service.service_name} used more than "
                f"{self._config.alarm_memory_percent} % of their memory for 15 minutes; near 100 % ECS "
                "stops the task (out of memory).",
            )
        )
        if ephemeral_storage:
            storage = self._ephemeral_storage(service, label, dimensions)
            if storage is not None:
                alarms.append(storage)
        self._row(f"ECS service {service.service_name}", alarms)
        return alarms

    def _no_running_task(
        self, service: ecs.BaseService, label: str | None, dimensions: dict[str, str]
    ) -> cloudwatch.Alarm:
        name = self._name(label, "no-running-task")
        if self.container_insights:
            metric = cloudwatch.Metric(
                namespace=CONTAINER_INSIGHTS_NAMESPACE,
                metric_name="RunningTaskCount",
                dimensions_map=dimensions,
                statistic="Maximum",
                period=MINUTE,
                label="running tasks",
            )
        else:
            # Without Container Insights: the number of CPU samples ECS published. It publishes
            # them only while a task is RUNNING, so no task = no sample = missing data.
            metric = service.metric_cpu_utilization(statistic="SampleCount", period=MINUTE).with_(
                label="CPU samples (tasks running)"
            )
        return self._alarm(
            name,
            metric,
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            periods=NO_TASK_MINUTES,
            missing=cloudwatch.TreatMissingData.BREACHING,
            description=f"{service.service_name} had no RUNNING task for {NO_TASK_MINUTES} minutes "
            "(stopped, failing to start, or rolled back): see the service's events.",
        )

    def _ephemeral_storage(
        self, service: ecs.BaseService, label: str | None, dimensions: dict[str, str]
    ) -> cloudwatch.Alarm | None:
        name = self._name(label, "ephemeral-storage-high")
        if not self.container_insights:
            # No silent alarm that can never fire: none at all, and one line at synth.
            Annotations.of(self).add_warning_v2(
                "pinpoint:noEphemeralStorageAlarm",
                f"container_insights=disabled: no {name} alarm for {self.node.path} (Fargate reports "
                "ephemeral storage only to Container Insights), so a disk filling with HBase data goes "
                "unnoticed; set container_insights=enabled to watch it",
            )
            return None

        # Fargate (platform 1.4.0+) sends the ephemeral storage reserved and used, in GB, to
        # Container Insights (ECS developer guide, "Fargate task ephemeral storage for Amazon
        # ECS"; CloudWatch user guide, "Amazon ECS Container Insights metrics":
        # EphemeralStorageReserved / EphemeralStorageUtilized, dimensions ClusterName + ServiceName).
        def storage(metric_name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=CONTAINER_INSIGHTS_NAMESPACE,
                metric_name=metric_name,
                dimensions_map=dimensions,
                statistic="Average",
                period=FIVE_MINUTES,
            )

        used = cloudwatch.MathExpression(
            expression="100 * utilized / reserved",
            using_metrics={
                "utilized": storage("EphemeralStorageUtilized"),
                "reserved": storage("EphemeralStorageReserved"),
            },
            label="ephemeral storage used (%)",
            period=FIVE_MINUTES,
        )
        threshold = self._config.alarm_ephemeral_storage_percent
        return self._alarm(
            name,
            used,
            threshold=threshold,
            periods=STORAGE_PERIODS,
            comparison=ABOVE,
            description=f"The ephemeral storage of {service.service_name}'s tasks is more than {threshold} % "
            'full; HBase stops writing when it is full (README "Alarms and dashboard").',
        )

    def watch_target_group(
        self,
        target_group: elbv2.ApplicationTargetGroup,
        load_balancer: elbv2.IApplicationLoadBalancer,
        *,
        label: str,
        grace: Duration,
    ) -> list[cloudwatch.Alarm]:
        """Unhealthy targets for longer than ``grace`` (the ECS health-check grace period: a booting
        task is unhealthy until then) plus a margin, and 5xx answers (the targets' and the ALB's
        own) at or above ``HTTP_5XX_THRESHOLD`` in 5 minutes."""
        unhealthy_minutes = math.ceil(grace.to_seconds() / 60) + UNHEALTHY_MARGIN_MINUTES
        unhealthy = self._alarm(
            self._name(label, "unhealthy-targets"),
            target_group.metrics.unhealthy_host_count(statistic="Maximum", period=MINUTE),
            threshold=1,
            periods=unhealthy_minutes,
            description=f"A {label} target failed the ALB health check for {unhealthy_minutes} minutes.",
        )
        errors = cloudwatch.MathExpression(
            expression="FILL(target, 0) + FILL(alb, 0)",
            using_metrics={
                "target": target_group.metrics.http_code_target(
                    elbv2.HttpCodeTarget.TARGET_5XX_COUNT, statistic="Sum", period=FIVE_MINUTES
                ),
                "alb": load_balancer.metrics.http_code_elb(
                    elbv2.HttpCodeElb.ELB_5XX_COUNT, statistic="Sum", period=FIVE_MINUTES
                ),
            },
            label="5xx answers",
            period=FIVE_MINUTES,
        )
        server_errors = self._alarm(
            self._name(label, "5xx"),
            errors,
            threshold=HTTP_5XX_THRESHOLD,
            periods=1,
            description=f"{HTTP_5XX_THRESHOLD} or more 5xx answers from the {label} ALB in 5 minutes.",
        )
        alarms = [unhealthy, server_errors]
        self._row(f"ALB target group {label}", alarms)
        return alarms

    def watch_function(
        self, function: lambda_.IFunction, *, label: str, log_group: logs.ILogGroup | None = None
    ) -> cloudwatch.Alarm:
        """One alarm, ``<name_prefix>-<label>-failed``: the function's Errors (crash, time-out, a
        mount that failed before the handler ran) plus, with ``log_group``, its "[ERROR]" log
        lines (a custom resource that answered CloudFormation FAILED and returned normally)."""
        failures: dict[str, cloudwatch.IMetric] = {
            "errors": function.metric_errors(statistic="Sum", period=FIVE_MINUTES)
        }
        if log_group is not None:
            filter_ = logs.MetricFilter(
                self,
                f"{pascal_case(label)}ErrorLogs",
                log_group=log_group,
                filter_pattern=ERROR_LOG_PATTERN,
                metric_namespace=CUSTOM_NAMESPACE,
                metric_name=f"{self._prefix}-{label}-error-logs",
                metric_value="1",
            )
            failures["errorlogs"] = filter_.metric(statistic="Sum", period=FIVE_MINUTES)
        alarm = self._alarm(
            self._name(label, "failed"),
            cloudwatch.MathExpression(
                expression=" + ".join(f"FILL({name}, 0)" for name in failures),
                using_metrics=failures,
                label=f"{label} failures",
                period=FIVE_MINUTES,
            ),
            threshold=1,
            periods=1,
            description=f"{label} failed (see the function's log group); a failed deploy step rolls the "
            "stack back.",
        )
        self._row(f"Lambda {label}", [alarm])
        return alarm

    def watch_hbase_client(self, service: ecs.BaseService, *, label: str) -> cloudwatch.Alarm:
        """``<name_prefix>-<label>-hbase-unreachable``: the service's tasks logged failed HBase
        calls (``RetriesExhausted``, see HBASE_FAILURE_LOG_PATTERN) in two 5-minute periods in a
        row. Their health checks do not touch HBase (an outage must not restart every task), so
        this is how an HBase outage outside the tasks shows up. The metric filter reads the log
        group of the service's container (its awslogs driver)."""
        container = service.task_definition.default_container
        driver = container.log_driver_config if container is not None else None
        group_name = (driver.options or {}).get("awslogs-group") if driver is not None else None
        if group_name is None:
            raise ValueError(f"{service.node.path}: no awslogs log group to watch for HBase failures")
        log_group = logs.LogGroup.from_log_group_name(self, f"{pascal_case(label)}LogGroup", group_name)
        filter_ = logs.MetricFilter(
            self,
            f"{pascal_case(label)}HBaseFailures",
            log_group=log_group,
            filter_pattern=HBASE_FAILURE_LOG_PATTERN,
            metric_namespace=CUSTOM_NAMESPACE,
            metric_name=f"{self._prefix}-{label}-hbase-failures",
            metric_value="1",
        )
        alarm = self._alarm(
            self._name(label, "hbase-unreachable"),
            filter_.metric(statistic="Sum", period=FIVE_MINUTES).with_(label="failed HBase calls"),
            threshold=1,
            periods=HBASE_FAILURE_PERIODS,
            description=f"{service.service_name} logged failed HBase calls (RetriesExhausted) for "
            f"{5 * HBASE_FAILURE_PERIODS} minutes: HBase is down or unreachable; agents' data is being lost.",
        )
        self._row(f"HBase calls of {service.service_name}", [alarm])
        return alarm

    # --- shared ---------------------------------------------------------------------------------
    def _name(self, label: str | None, signal: str) -> str:
        return "-".join(part for part in (self._prefix, label, signal) if part)

    def _alarm(
        self,
        name: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        periods: int,
        description: str,
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            pascal_case(name.removeprefix(f"{self._prefix}-")),
            alarm_name=name,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms[name] = alarm
        return alarm

    def _row(self, title: str, alarms: list[cloudwatch.Alarm]) -> None:
        """A heading and one graph per alarm: its metric with the threshold line."""
        names = {alarm: name for name, alarm in self.alarms.items()}
        self.dashboard.add_widgets(cloudwatch.TextWidget(markdown=f"### {title}", width=24, height=1))
        self.dashboard.add_widgets(
            *(cloudwatch.AlarmWidget(alarm=alarm, title=names[alarm], width=8, height=6) for alarm in alarms)
        )
