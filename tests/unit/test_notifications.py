"""EventBridge notifications to the alarm topic (stacks/constructs/notifications.py), on real
synth: each rule's event pattern, with the values a deployment gives its references, is matched
by moto's EventBridge pattern engine (moto.events.models.EventPattern, the one moto's
PutEvents/TestEventPattern use) against the example events of the AWS documentation
(tests/unit/aws_documented_events.py names each page), and the message its input transformer
makes from them is read back. That the topic and its key let EventBridge publish is
tests/unit/test_alarm_topic_publishers.py."""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import pytest
from moto.events.models import EventPattern

from tests.unit import aws_documented_events as documented
from tests.unit.conftest import CUSTOMIZED, EMR, EXTERNAL, OPERATIONS, synth
from tests.unit.resource_policy import resolve

ALL_IN_ONE = "pinpoint-all-in-one"
VARIANTS = {"default": {}, "efs": CUSTOMIZED, "operations": OPERATIONS, "emr": EMR, "external": EXTERNAL}


def deployed_values(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What the references in the rules resolve to once deployed: the ECS cluster is the
    documentation's example cluster, the EMR cluster the documentation's example cluster id, the
    service and vault names those the stack gives them."""
    values: dict[str, Any] = {}
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::ECS::Cluster":
            values[f"{logical_id}.Arn"] = documented.ECS_CLUSTER_ARN
        elif resource["Type"] == "AWS::ECS::Service":
            values[f"{logical_id}.Name"] = props["ServiceName"]
        elif resource["Type"] == "AWS::EMR::Cluster":
            values[logical_id] = documented.EMR_CLUSTER_TERMINATED["detail"]["clusterId"]
        elif resource["Type"] == "AWS::Backup::BackupVault":
            values[f"{logical_id}.BackupVaultName"] = resolve(props["BackupVaultName"], {})
    return values


class Rule:
    """One synthesized rule as deployed: its pattern (moto's engine) and its message."""

    def __init__(self, props: dict[str, Any], values: dict[str, Any], topic_id: str) -> None:
        self.name = props["Name"]
        self.pattern = EventPattern.load(json.dumps(resolve(props["EventPattern"], values)))
        (target,) = props["Targets"]
        assert target["Arn"] == {"Ref": topic_id}, f"{self.name} does not notify the alarm topic"
        transformer = target["InputTransformer"]
        self.template = resolve(transformer["InputTemplate"], values)
        self.paths = transformer["InputPathsMap"]

    def matches(self, event: dict[str, Any]) -> bool:
        return self.pattern.matches_event(event)

    def message(self, event: dict[str, Any]) -> str:
        """The text SNS receives: each <variable> replaced by the value at its path, escaped as
        EventBridge escapes variables in a string template (EventBridge user guide, "Amazon
        EventBridge input transformation": only the predefined aws.events.event variables are
        inserted unescaped)."""
        text = self.template
        for variable, path in self.paths.items():
            value: Any = event
            for part in path.removeprefix("$.").split("."):
                value = value.get(part, "") if isinstance(value, dict) else ""
            text = text.replace(f"<{variable}>", json.dumps(str(value))[1:-1])
        message = json.loads(text)
        assert isinstance(message, str)
        return message


@cache
def deployed(variant: str) -> tuple[dict[str, Rule], dict[str, Any]]:
    """The variant's rules by name, and the deployed values of its references."""
    resources = synth(**VARIANTS[variant]).to_json()["Resources"]
    values = deployed_values(resources)
    (topic_id,) = [name for name, r in resources.items() if r["Type"] == "AWS::SNS::Topic"]
    rules = {
        r["Properties"]["Name"]: Rule(r["Properties"], values, topic_id)
        for r in resources.values()
        if r["Type"] == "AWS::Events::Rule"
    }
    return rules, values


# The all-in-one's service name per variant that runs one.
ALL_IN_ONE_VARIANTS = {"default": ALL_IN_ONE, "efs": ALL_IN_ONE, "operations": "apm-all-in-one"}


@pytest.mark.parametrize("name", VARIANTS)
def test_each_topology_notifies_what_it_can_lose(name: str) -> None:
    rules, _ = deployed(name)
    expected = {
        "default": {"pinpoint-task-stopped"},
        "efs": {"pinpoint-task-stopped", "pinpoint-hbase-backup-failed"},
        "operations": {"apm-task-stopped", "apm-hbase-backup-failed"},
        "emr": {"pinpoint-hbase-cluster-down"},
        "external": set(),  # the user's HBase: nothing of it is this stack's to watch
    }
    assert set(rules) == expected[name]


def task_stop_rule(rules: dict[str, Rule]) -> Rule:
    (rule,) = [rule for name, rule in rules.items() if name.endswith("-task-stopped")]
    return rule


@pytest.mark.parametrize("name", ALL_IN_ONE_VARIANTS)
def test_a_stopped_all_in_one_task_is_notified_with_its_reason(name: str) -> None:
    service, rule = ALL_IN_ONE_VARIANTS[name], task_stop_rule(deployed(name)[0])
    stopped = documented.ecs_service_task_stopped(service, reason="Task failed container health checks")
    assert rule.matches(stopped)
    message = rule.message(stopped)
    assert message.startswith(
        f"Task {stopped['detail']['taskArn']} of ECS service {service} stopped (EssentialContainerExited): "
        "Task failed container health checks."
    )
    if name == "default":  # hbase_storage=ephemeral
        assert "HBase data on its ephemeral storage is gone" in message
    else:
        assert message.endswith("ECS starts a replacement.")
        assert "gone" not in message


@pytest.mark.parametrize("name", ALL_IN_ONE_VARIANTS)
def test_running_tasks_and_other_services_or_clusters_are_not_notified(name: str) -> None:
    service, rule = ALL_IN_ONE_VARIANTS[name], task_stop_rule(deployed(name)[0])
    assert not rule.matches(documented.ECS_TASK_RUNNING)  # the documentation's example, as printed
    running = documented.ecs_service_task_stopped(service)
    running["detail"].update(lastStatus="RUNNING", desiredStatus="RUNNING")
    assert not rule.matches(running)
    assert not rule.matches(documented.ecs_service_task_stopped("pinpoint-sample-app"))
    elsewhere = documented.ecs_service_task_stopped(service)
    elsewhere["detail"]["clusterArn"] = "arn:aws:ecs:us-west-2:111122223333:cluster/another"
    assert not rule.matches(elsewhere)


def test_an_emr_cluster_going_down_is_notified_and_a_waiting_one_is_not() -> None:
    rule = deployed("emr")[0]["pinpoint-hbase-cluster-down"]
    for state in ("TERMINATING", "TERMINATED_WITH_ERRORS"):
        assert rule.matches(documented.emr_cluster_in(state)), state
    assert rule.matches(documented.EMR_CLUSTER_TERMINATED)  # as printed
    assert rule.message(documented.EMR_CLUSTER_TERMINATED) == (
        "EMR cluster j-123456789ABCD running Pinpoint's HBase is TERMINATED: Amazon EMR Cluster jj-123456789ABCD "
        "(Development Cluster) has terminated at 2016-12-16 21:00 UTC with a reason of USER_REQUEST. The "
        "collectors and the web cannot reach HBase; its data stays in S3 (README: hbase_mode=emr)."
    )
    assert not rule.matches(documented.EMR_CLUSTER_WAITING)
    another = copy.deepcopy(documented.EMR_CLUSTER_TERMINATED)
    another["detail"]["clusterId"] = "j-ANOTHERCLUSTER"
    assert not rule.matches(another)


def for_vault(event: dict[str, Any], vault: str) -> dict[str, Any]:
    """The documented event as AWS sends it for a job into ``vault`` (its name and ARN)."""
    event = copy.deepcopy(event)
    documented_vault = event["detail"]["backupVaultName"]
    event["detail"]["backupVaultName"] = vault
    event["detail"]["backupVaultArn"] = event["detail"]["backupVaultArn"].replace(documented_vault, vault)
    return event


@pytest.mark.parametrize("name", ["efs", "operations"])  # backups: hbase_storage=efs only
def test_a_failed_aborted_or_expired_backup_job_is_notified_with_its_message(name: str) -> None:
    rules, values = deployed(name)
    (vault,) = [value for key, value in values.items() if key.endswith(".BackupVaultName")]
    prefix = "apm" if name == "operations" else "pinpoint"
    assert vault.startswith(f"{prefix}-hbase-")
    rule = rules[f"{prefix}-hbase-backup-failed"]
    for documented_event in (
        documented.BACKUP_JOB_FAILED,
        documented.BACKUP_JOB_ABORTED,
        documented.BACKUP_JOB_EXPIRED,
    ):
        ours = for_vault(documented_event, vault)
        assert rule.matches(ours), documented_event["detail"]["state"]
        assert not rule.matches(documented_event)  # the same job into another vault
    failed = for_vault(documented.BACKUP_JOB_FAILED, vault)
    assert rule.message(failed) == (
        f"Backup job 34176239-e96d-4e1d-9fad-529dbb3c3556 of arn:aws:service:us-west-2:1112233445566:resource-type/"
        f'resource-id into vault {vault} is FAILED: "Backup job failed because backup vault '
        "arn:aws:backup:us-west-2:1112233445566:backup-vault:9ab3e749-82c6-4342-9320-5edbf4918b86 does not "
        'exist.". No recovery point was made; see AWS Backup, Jobs.'
    )
    assert not rule.matches(for_vault(documented.BACKUP_JOB_COMPLETED, vault))
