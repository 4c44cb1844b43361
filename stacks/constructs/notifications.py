"""EventBridge notifications to the alarm topic, for events nothing measures: each rule is named
``<name_prefix>[-<label>]-<signal>`` like the alarms, and its message carries the event's own
reason. :meth:`Notifications.task_stops` (a task of a service stopped; the all-in-one's HBase data
may have gone with it), :meth:`Notifications.emr_cluster` (the EMR cluster running HBase is
terminating or gone) and :meth:`Notifications.backup_jobs` (a backup job FAILED, ABORTED or
EXPIRED). The topic's key and topic policies admit these rules (stacks/constructs/monitoring.py).
"""

from __future__ import annotations

import jsii
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.constructs.naming import pascal_case

# EMR cluster states after which it serves no HBase (EMR API ClusterStatus.State: STARTING |
# BOOTSTRAPPING | RUNNING | WAITING | TERMINATING | TERMINATED | TERMINATED_WITH_ERRORS).
EMR_DOWN_STATES = ("TERMINATING", "TERMINATED", "TERMINATED_WITH_ERRORS")
# Backup job states that leave no recovery point (AWS Backup developer guide, "Monitoring AWS
# Backup events using Amazon EventBridge": FAILED, ABORTED, EXPIRED example events).
BACKUP_JOB_FAILED_STATES = ("FAILED", "ABORTED", "EXPIRED")


@jsii.implements(events.IRuleTarget)
class _TopicTarget:
    """The alarm topic as an EventBridge target, without the grants ``aws_events_targets.SnsTopic``
    adds: those allow every EventBridge rule of every account (no condition); the topic and its key
    allow this stack's rules instead (monitoring.py, ``Monitoring._allow_publishers``)."""

    def __init__(self, topic: sns.ITopic, message: events.RuleTargetInput) -> None:
        self._topic, self._message = topic, message

    def bind(self, _rule: events.IRule, _id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(arn=self._topic.topic_arn, input=self._message)


class Notifications:
    """Adds rules to ``scope`` (the Monitoring construct, so their logical ids do not move) that
    send to ``topic``; ``rules``: rule name -> rule."""

    def __init__(self, scope: Construct, *, topic: sns.ITopic, prefix: str) -> None:
        self._scope, self._topic, self._prefix = scope, topic, prefix
        self.rules: dict[str, events.Rule] = {}

    def task_stops(
        self, service: ecs.BaseService, *, label: str | None = None, hbase_data_lost: bool = False
    ) -> events.Rule:
        """``<name_prefix>[-<label>]-task-stopped``: every task of ``service`` that stops, with
        ECS's stoppedReason and stopCode. ``hbase_data_lost``: the message says the HBase data on
        the task's ephemeral storage went with it. ECS names a service's task group
        ``service:<service name>`` (ECS developer guide, "Group related Amazon ECS tasks"; "Example
        Amazon ECS task placement constraints": ``task:group == service:<name>``)."""
        consequence = (
            "HBase data on its ephemeral storage is gone (hbase_storage=ephemeral): the new task starts empty."
            if hbase_data_lost
            else "ECS starts a replacement."
        )
        field = events.EventField.from_path
        return self._notify(
            self._name(label, "task-stopped"),
            description=f"A task of {service.service_name} stopped.",
            pattern=events.EventPattern(
                source=["aws.ecs"],
                detail_type=["ECS Task State Change"],
                detail={
                    "clusterArn": [service.cluster.cluster_arn],
                    "group": [f"service:{service.service_name}"],
                    "lastStatus": ["STOPPED"],
                },
            ),
            message=f"Task {field('$.detail.taskArn')} of ECS service {service.service_name} stopped "
            f"({field('$.detail.stopCode')}): {field('$.detail.stoppedReason')}. {consequence}",
        )

    def emr_cluster(self, cluster_id: str) -> events.Rule:
        """``<name_prefix>-hbase-cluster-down``: the EMR cluster running HBase is terminating or
        terminated (EMR Management Guide, "Monitor CloudWatch Events": cluster events, state and
        stateChangeReason in the detail)."""
        field = events.EventField.from_path
        return self._notify(
            self._name(None, "hbase-cluster-down"),
            description="The EMR cluster running HBase is terminating or terminated.",
            pattern=events.EventPattern(
                source=["aws.emr"],
                detail_type=["EMR Cluster State Change"],
                detail={"clusterId": [cluster_id], "state": list(EMR_DOWN_STATES)},
            ),
            message=f"EMR cluster {field('$.detail.clusterId')} running Pinpoint's HBase is "
            f"{field('$.detail.state')}: {field('$.detail.message')} The collectors and the web cannot "
            "reach HBase; its data stays in S3 (README: hbase_mode=emr).",
        )

    def backup_jobs(self, vault_name: str) -> events.Rule:
        """``<name_prefix>-hbase-backup-failed``: a backup job into ``vault_name`` FAILED, was
        ABORTED or EXPIRED before it ran, i.e. that day has no recovery point."""
        field = events.EventField.from_path
        return self._notify(
            self._name(None, "hbase-backup-failed"),
            description="A backup of the HBase data failed, was aborted or expired.",
            pattern=events.EventPattern(
                source=["aws.backup"],
                detail_type=["Backup Job State Change"],
                detail={"backupVaultName": [vault_name], "state": list(BACKUP_JOB_FAILED_STATES)},
            ),
            message=f"Backup job {field('$.detail.backupJobId')} of {field('$.detail.resourceArn')} into "
            f"vault {field('$.detail.backupVaultName')} is {field('$.detail.state')}: "
            f"{field('$.detail.statusMessage')}. No recovery point was made; see AWS Backup, Jobs.",
        )

    def _notify(
        self, name: str, *, description: str, pattern: events.EventPattern, message: str
    ) -> events.Rule:
        rule = events.Rule(
            self._scope,
            pascal_case(name.removeprefix(f"{self._prefix}-")) + "Rule",
            rule_name=name,  # the topic policy admits rules named <name_prefix>-*
            description=description,
            event_pattern=pattern,
        )
        rule.add_target(_TopicTarget(self._topic, events.RuleTargetInput.from_text(message)))
        self.rules[name] = rule
        return rule

    def _name(self, label: str | None, signal: str) -> str:
        return "-".join(part for part in (self._prefix, label, signal) if part)
