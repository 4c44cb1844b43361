"""What `make status` calls unhealthy (scripts/ops/status.py), on the response shapes the AWS API
references document: ECS DescribeServices/DescribeTasks (Service, Deployment, Task,
Container.healthStatus), ELBv2 DescribeTargetHealth (TargetHealthDescription), EMR DescribeCluster
(Cluster, ClusterStatus), AWS Backup ListBackupJobs (BackupJob) and CloudWatch DescribeAlarms
(MetricAlarm). The same functions run against moto in tests/integration/test_status.py; these
cover what moto cannot express (a service at 1 of 2, a FAILED rollout, an UNHEALTHY container, a
failed backup job) and run in the unit tier."""

from __future__ import annotations

import datetime
from typing import Any

import botocore.exceptions
import pytest

from scripts.ops.status import (
    BACKUP_MAX_SILENCE,
    Report,
    alarm_line_and_problems,
    backup_line_and_problems,
    emr_line_and_problems,
    service_line,
    service_problems,
    target_line_and_problems,
)

UTC = datetime.UTC
NOW = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
DEPLOYED = NOW - datetime.timedelta(days=30)
VAULT = "pinpoint-hbase-0f1e2d3c"


def service(**extra: Any) -> dict[str, Any]:
    """A DescribeServices entry (ECS API reference, Service / Deployment)."""
    return {
        "serviceName": "pinpoint-collector",
        "desiredCount": 2,
        "runningCount": 2,
        "pendingCount": 0,
        "deployments": [
            {
                "status": "PRIMARY",
                "rolloutState": "COMPLETED",
                "rolloutStateReason": "ECS deployment ecs-svc/1 completed.",
                "failedTasks": 0,
            }
        ],
        **extra,
    }


def task(health: str, task_id: str = "0f1e2d3c") -> dict[str, Any]:
    """A DescribeTasks entry (ECS API reference, Task / Container.healthStatus)."""
    return {
        "taskArn": f"arn:aws:ecs:eu-west-3:123456789012:task/pinpoint/{task_id}",
        "group": "service:pinpoint-collector",
        "lastStatus": "RUNNING",
        "healthStatus": health,
        "containers": [{"name": "pinpoint", "healthStatus": health}],
    }


# --- services ------------------------------------------------------------------------------------


def test_a_service_running_fewer_tasks_than_desired_is_unhealthy_not_only_at_zero() -> None:
    one_of_two = service(runningCount=1, pendingCount=1)
    assert service_problems(one_of_two, [task("HEALTHY")]) == [
        "service pinpoint-collector: running 1 of 2 desired task(s)"
    ]
    assert service_problems(service(runningCount=0, pendingCount=2), []) == [
        "service pinpoint-collector: running 0 of 2 desired task(s)"
    ]
    assert service_problems(service(), [task("HEALTHY"), task("HEALTHY", "1a2b")]) == []
    # Scaling in (more running than desired, for a moment) is not a problem.
    assert service_problems(service(runningCount=3), [task("HEALTHY")]) == []
    assert service_line(one_of_two, [task("HEALTHY")]) == (
        "service pinpoint-collector: running 1/2, pending 1; last deployment COMPLETED, failed tasks 0; "
        "1 task(s), containers 1 HEALTHY"
    )


def test_a_rollout_the_circuit_breaker_failed_is_unhealthy() -> None:
    failed = service(
        deployments=[
            {
                "status": "PRIMARY",
                "rolloutState": "FAILED",
                "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start.",
                "failedTasks": 3,
            },
            {"status": "ACTIVE", "rolloutState": "COMPLETED", "failedTasks": 0},
        ]
    )
    assert service_problems(failed, [task("HEALTHY"), task("HEALTHY", "1a2b")]) == [
        "service pinpoint-collector: the last deployment FAILED (3 failed task(s)): "
        "ECS deployment circuit breaker: tasks failed to start."
    ]


def test_an_unhealthy_container_is_unhealthy_and_an_unknown_one_is_not() -> None:
    assert service_problems(service(), [task("UNHEALTHY"), task("HEALTHY", "1a2b")]) == [
        "service pinpoint-collector: task 0f1e2d3c is UNHEALTHY (containers: pinpoint)"
    ]
    # UNKNOWN: not known yet, within the health check's start period.
    assert service_problems(service(), [task("UNKNOWN"), task("HEALTHY", "1a2b")]) == []


# --- load balancer targets ---------------------------------------------------------------------


def test_an_unhealthy_target_is_named_and_a_draining_one_is_not() -> None:
    line, problems = target_line_and_problems(
        [
            {"Target": {"Id": "10.40.1.10", "Port": 8080}, "TargetHealth": {"State": "healthy"}},
            {"Target": {"Id": "10.40.2.11", "Port": 8080}, "TargetHealth": {"State": "draining"}},
            {
                "Target": {"Id": "10.40.2.12", "Port": 8080},
                "TargetHealth": {
                    "State": "unhealthy",
                    "Reason": "Target.ResponseCodeMismatch",
                    "Description": "Health checks failed with these codes: [502]",
                },
            },
        ]
    )
    assert line == "web target group: 1 draining, 1 healthy, 1 unhealthy"
    assert problems == [
        "web target 10.40.2.12:8080 is unhealthy (Target.ResponseCodeMismatch: Health checks failed with these "
        "codes: [502])"
    ]


def test_a_collector_nlb_port_without_a_healthy_target_is_unhealthy() -> None:
    line, problems = target_line_and_problems(
        [
            {
                "Target": {"Id": "10.40.1.10", "Port": 9991},
                "TargetHealth": {"State": "unhealthy", "Reason": "Target.Timeout"},
            }
        ],
        label="collector NLB port 9991",
        serves="agents outside Service Connect",
    )
    assert line == "collector NLB port 9991 target group: 1 unhealthy"
    assert problems == [
        "collector NLB port 9991 target 10.40.1.10:9991 is unhealthy (Target.Timeout)",
        "the collector NLB port 9991 target group has no healthy target: agents outside Service Connect is not served",
    ]
    assert target_line_and_problems([], label="collector NLB port 9992")[0] == (
        "collector NLB port 9992 target group: no targets"
    )


# --- HBase on EMR ------------------------------------------------------------------------------


def cluster(state: str, **reason: str) -> dict[str, Any]:
    """A DescribeCluster ``Cluster`` (EMR API reference, Cluster / ClusterStatus)."""
    return {
        "Id": "j-123456789ABCD",
        "Name": "pinpoint-hbase",
        "Status": {"State": state, "StateChangeReason": reason},
    }


@pytest.mark.parametrize("state", ["RUNNING", "WAITING"])
def test_an_emr_cluster_that_serves_hbase_is_healthy(state: str) -> None:
    assert emr_line_and_problems(cluster(state)) == (
        f"EMR cluster j-123456789ABCD (pinpoint-hbase): {state}",
        [],
    )


@pytest.mark.parametrize(
    "state", ["STARTING", "BOOTSTRAPPING", "TERMINATING", "TERMINATED", "TERMINATED_WITH_ERRORS"]
)
def test_an_emr_cluster_that_does_not_serve_hbase_is_unhealthy_with_its_reason(state: str) -> None:
    line, problems = emr_line_and_problems(
        cluster(state, Code="INSTANCE_FAILURE", Message="Master instance failed")
    )
    assert line == (
        f"EMR cluster j-123456789ABCD (pinpoint-hbase): {state} (INSTANCE_FAILURE Master instance failed)"
    )
    assert problems == [
        f"EMR cluster j-123456789ABCD is {state}, not RUNNING or WAITING: HBase is not served "
        "(INSTANCE_FAILURE Master instance failed)"
    ]


# --- backups -----------------------------------------------------------------------------------


def job(state: str, hours_ago: float, message: str = "", job_id: str = "34176239") -> dict[str, Any]:
    """A ListBackupJobs entry (AWS Backup API reference, BackupJob)."""
    return {
        "BackupJobId": job_id,
        "BackupVaultName": VAULT,
        "State": state,
        "StatusMessage": message,
        "CreationDate": NOW - datetime.timedelta(hours=hours_ago),
    }


def test_the_newest_backup_job_is_reported_and_a_failed_one_is_unhealthy() -> None:
    line, problems = backup_line_and_problems(
        [job("COMPLETED", 33), job("FAILED", 9, "Access denied", "a827233a")],
        vault=VAULT,
        now=NOW,
        stack_created=DEPLOYED,
    )
    assert line == f"last backup job into {VAULT}: FAILED, started 2026-12-07 03:00 UTC (Access denied)"
    assert problems == [f"the last backup job into {VAULT} (a827233a) is FAILED: Access denied"]
    line, problems = backup_line_and_problems(
        [job("FAILED", 33), job("COMPLETED", 9)], vault=VAULT, now=NOW, stack_created=DEPLOYED
    )
    assert (line, problems) == (f"last backup job into {VAULT}: COMPLETED, started 2026-12-07 03:00 UTC", [])
    for state in ("RUNNING", "CREATED", "PENDING"):  # under way: not (yet) a problem
        assert (
            backup_line_and_problems([job(state, 1)], vault=VAULT, now=NOW, stack_created=DEPLOYED)[1] == []
        )
    for state in ("ABORTED", "EXPIRED", "PARTIAL"):
        assert backup_line_and_problems([job(state, 1)], vault=VAULT, now=NOW, stack_created=DEPLOYED)[1]


def test_a_plan_that_stopped_running_is_unhealthy_but_a_new_stack_has_time_for_its_first_job() -> None:
    silent = BACKUP_MAX_SILENCE.total_seconds() / 3600 + 1
    assert backup_line_and_problems([job("COMPLETED", silent)], vault=VAULT, now=NOW, stack_created=DEPLOYED)[
        1
    ] == [f"no backup job into {VAULT} for 34 hours: the daily plan skipped a day"]
    assert backup_line_and_problems([], vault=VAULT, now=NOW, stack_created=DEPLOYED) == (
        f"last backup job into {VAULT}: none in the last 8 days",
        [f"no backup job into {VAULT} in the last 8 days: the daily plan is not running"],
    )
    just_deployed = NOW - datetime.timedelta(hours=5)
    assert backup_line_and_problems([], vault=VAULT, now=NOW, stack_created=just_deployed) == (
        f"last backup job into {VAULT}: none yet (the plan runs daily at 03:00 UTC)",
        [],
    )


# --- alarms and parts that cannot be read -------------------------------------------------------


def alarm(name: str, state: str, reason: str = "Threshold Crossed") -> dict[str, Any]:
    """A DescribeAlarms MetricAlarms entry (CloudWatch API reference, MetricAlarm)."""
    return {"AlarmName": name, "StateValue": state, "StateReason": reason}


def test_only_the_stacks_alarms_count_and_a_missing_one_is_unhealthy() -> None:
    names = ["pinpoint-cpu-high", "pinpoint-no-running-task", "pinpoint-web-5xx"]
    line, problems = alarm_line_and_problems(
        [
            alarm("pinpoint-cpu-high", "ALARM", "Threshold Crossed: 3 datapoints"),
            alarm("pinpoint-web-5xx", "OK"),
        ],
        names,
    )
    assert line == "alarms of the stack (3): 1 ALARM, 1 OK"
    assert problems == [
        "alarm pinpoint-cpu-high is in ALARM: Threshold Crossed: 3 datapoints",
        "alarm pinpoint-no-running-task of the stack does not exist: it watches nothing",
    ]


def test_a_part_that_cannot_be_read_is_unchecked_not_unhealthy() -> None:
    report = Report()
    denied = botocore.exceptions.ClientError(
        {
            "Error": {
                "Code": "AccessDeniedException",
                "Message": "not authorized to perform backup:ListBackupJobs",
            }
        },
        "ListBackupJobs",
    )
    with report.part(f"the backup jobs of vault {VAULT}"):
        raise denied
    with report.part("something readable"):
        report.lines.append("read")
    assert report.unchecked == [
        f"cannot read the backup jobs of vault {VAULT}: AccessDeniedException: not authorized to perform "
        "backup:ListBackupJobs"
    ]
    assert (report.problems, report.lines) == ([], ["read"])
    with (
        pytest.raises(ValueError, match="a bug is a bug"),
        report.part("a bug"),
    ):  # only AWS errors are "cannot read"
        raise ValueError("a bug is a bug")
