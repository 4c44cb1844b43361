"""Example events as the AWS documentation prints them, for matching the stack's EventBridge rules
against the shapes AWS sends. Each constant names the page it was read from (through the
project's search tool, 2026-12-07); values are the documentation's, unchanged, except where a
docstring says which fields a variant changes and on what documented ground."""

from __future__ import annotations

import copy
from typing import Any

# EMR Management Guide, "When to set up EMR events in CloudWatch" (emr-service-limits-cloudwatch-events),
# "Case 3: Polling EMR for Cluster Termination" and "Case 2 ... Available Clusters".
EMR_CLUSTER_TERMINATED: dict[str, Any] = {
    "version": "0",
    "id": "1234abb0-f87e-1234-b7b6-000000123456",
    "detail-type": "EMR Cluster State Change",
    "source": "aws.emr",
    "account": "123456789012",
    "time": "2016-12-16T21:00:23Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {
        "severity": "INFO",
        "stateChangeReason": '{"code":"USER_REQUEST","message":"Terminated by user request"}',
        "name": "Development Cluster",
        "clusterId": "j-123456789ABCD",
        "state": "TERMINATED",
        "message": "Amazon EMR Cluster jj-123456789ABCD (Development Cluster) has terminated at 2016-12-16 21:00 "
        "UTC with a reason of USER_REQUEST.",
    },
}
EMR_CLUSTER_WAITING: dict[str, Any] = {
    "version": "0",
    "id": "999cccaa-eaaa-0000-1111-123456789012",
    "detail-type": "EMR Cluster State Change",
    "source": "aws.emr",
    "account": "123456789012",
    "time": "2016-12-16T20:43:05Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {
        "severity": "INFO",
        "stateChangeReason": '{"code":""}',
        "name": "Development Cluster",
        "clusterId": "j-123456789ABCD",
        "state": "WAITING",
        "message": "Amazon EMR cluster j-123456789ABCD ...",
    },
}


def emr_cluster_in(state: str) -> dict[str, Any]:
    """The terminated example in another state the EMR Management Guide lists for cluster events
    ("Monitor CloudWatch Events", Cluster Events: TERMINATED_WITH_ERRORS, severity CRITICAL)."""
    event = copy.deepcopy(EMR_CLUSTER_TERMINATED)
    event["detail"]["state"] = state
    return event


# ECS developer guide, "Amazon ECS events" (ecs_cwe_events), "Example Task state change event"
# (awsdocs/amazon-ecs-developer-guide doc_source/ecs_cwe_events.md at 024df00c).
ECS_TASK_RUNNING: dict[str, Any] = {
    "version": "0",
    "id": "3317b2af-7005-947d-b652-f55e762e571a",
    "detail-type": "ECS Task State Change",
    "source": "aws.ecs",
    "account": "111122223333",
    "time": "2020-01-23T17:57:58Z",
    "region": "us-west-2",
    "resources": ["arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b4cb40f1f4fe4a2971f76ae5a47ad"],
    "detail": {
        "attachments": [
            {
                "id": "1789bcae-ddfb-4d10-8ebe-8ac87ddba5b8",
                "type": "eni",
                "status": "ATTACHED",
                "details": [
                    {"name": "subnetId", "value": "subnet-abcd1234"},
                    {"name": "networkInterfaceId", "value": "eni-abcd1234"},
                    {"name": "macAddress", "value": "0a:98:eb:a7:29:ba"},
                    {"name": "privateIPv4Address", "value": "10.0.0.139"},
                ],
            }
        ],
        "availabilityZone": "us-west-2c",
        "clusterArn": "arn:aws:ecs:us-west-2:111122223333:cluster/FargateCluster",
        "containers": [
            {
                "containerArn": "arn:aws:ecs:us-west-2:111122223333:container/cf159fd6-3e3f-4a9e-84f9-66cbe726af01",
                "lastStatus": "RUNNING",
                "name": "FargateApp",
                "image": "111122223333.dkr.ecr.us-west-2.amazonaws.com/hello-repository:latest",
                "imageDigest": "sha256:74b2c688c700ec95a93e478cdb959737c148df3fbf5ea706abe0318726e885e6",
                "runtimeId": "ad64cbc71c7fb31c55507ec24c9f77947132b03d48d9961115cf24f3b7307e1e",
                "taskArn": "arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b4cb40f1f4fe4a2971f76ae5a47ad",
                "networkInterfaces": [
                    {
                        "attachmentId": "1789bcae-ddfb-4d10-8ebe-8ac87ddba5b8",
                        "privateIpv4Address": "10.0.0.139",
                    }
                ],
                "cpu": "0",
            }
        ],
        "createdAt": "2020-01-23T17:57:34.402Z",
        "launchType": "FARGATE",
        "cpu": "256",
        "memory": "512",
        "desiredStatus": "RUNNING",
        "group": "family:sample-fargate",
        "lastStatus": "RUNNING",
        "overrides": {"containerOverrides": [{"name": "FargateApp"}]},
        "connectivity": "CONNECTED",
        "connectivityAt": "2020-01-23T17:57:38.453Z",
        "pullStartedAt": "2020-01-23T17:57:52.103Z",
        "startedAt": "2020-01-23T17:57:58.103Z",
        "pullStoppedAt": "2020-01-23T17:57:55.103Z",
        "updatedAt": "2020-01-23T17:57:58.103Z",
        "taskArn": "arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b4cb40f1f4fe4a2971f76ae5a47ad",
        "taskDefinitionArn": "arn:aws:ecs:us-west-2:111122223333:task-definition/sample-fargate:1",
        "version": 4,
        "platformVersion": "1.3.0",
    },
}
ECS_CLUSTER_ARN = ECS_TASK_RUNNING["detail"]["clusterArn"]


def ecs_service_task_stopped(
    service_name: str, *, reason: str = "Essential container in task exited"
) -> dict[str, Any]:
    """The documented event for the same task once it stopped, as a task of ``service_name``. The
    page says the detail "resembles the Task object" of DescribeTasks and that for a stopped task
    "the stoppedReason and stopCode fields" say why; the fields changed are the Task object's:
    ``group`` is ``service:<name>`` for a service's tasks (ECS developer guide, "Group related
    Amazon ECS tasks" and "Example Amazon ECS task placement constraints"), ``lastStatus`` and
    ``desiredStatus`` STOPPED, ``stopCode`` one of the API's TaskStopCode values, ``stoppedReason``
    the text ECS's tutorial "Sending Amazon SNS alerts for task stopped events" matches."""
    event = copy.deepcopy(ECS_TASK_RUNNING)
    detail = event["detail"]
    detail.update(
        group=f"service:{service_name}",
        lastStatus="STOPPED",
        desiredStatus="STOPPED",
        stopCode="EssentialContainerExited",
        stoppedReason=reason,
        stoppedAt="2020-01-23T18:12:01.231Z",
        version=6,
    )
    detail["containers"][0]["lastStatus"] = "STOPPED"
    return event


# AWS Backup developer guide, "Monitoring AWS Backup events using Amazon EventBridge" (eventbridge),
# Backup Job events: State FAILED, ABORTED, EXPIRED, COMPLETED.
BACKUP_JOB_FAILED: dict[str, Any] = {
    "version": "0",
    "id": "710b0398-d48e-f3c3-afca-cfeb2fdaa656",
    "detail-type": "Backup Job State Change",
    "source": "aws.backup",
    "account": "1112233445566",
    "time": "2020-07-29T20:15:26Z",
    "region": "us-west-2",
    "resources": [],
    "detail": {
        "backupJobId": "34176239-e96d-4e1d-9fad-529dbb3c3556",
        "backupVaultArn": "arn:aws:backup:us-west-2:1112233445566:backup-vault:9ab3e749-82c6-4342-9320-5edbf4918b86",
        "backupVaultName": "9ab3e749-82c6-4342-9320-5edbf4918b86",
        "bytesTransferred": "0",
        "creationDate": "2020-07-29T20:13:07.392Z",
        "iamRoleArn": "arn:aws:iam::1112233445566:role/MockRCBackupTestRole",
        "resourceArn": "arn:aws:service:us-west-2:1112233445566:resource-type/resource-id",
        "resourceType": "type",
        "state": "FAILED",
        "statusMessage": '"Backup job failed because backup vault arn:aws:backup:us-west-2:1112233445566:backup-'
        'vault:9ab3e749-82c6-4342-9320-5edbf4918b86 does not exist."',
        "startBy": "2020-07-30T04:13:07.392Z",
        "percentDone": 0,
        "retryCount": 3,
    },
}
BACKUP_JOB_ABORTED: dict[str, Any] = {
    "version": "0",
    "id": "4c91ceb0-b798-da82-6818-c29b3dce7543",
    "detail-type": "Backup Job State Change",
    "source": "aws.backup",
    "account": "1112233445566",
    "time": "2020-07-15T21:33:16Z",
    "region": "us-west-2",
    "resources": [],
    "detail": {
        "backupJobId": "58cdef95-7680-4c74-80d5-1b64093999c8",
        "backupVaultArn": "arn:aws:backup:us-west-2:1112233445566:backup-vault:f59bffcd-2538-4bbe-8343-1c60dae27c27",
        "backupVaultName": "f59bffcd-2538-4bbe-8343-1c60dae27c27",
        "bytesTransferred": "0",
        "creationDate": "2020-07-15T21:33:00.803Z",
        "iamRoleArn": "arn:aws:iam::1112233445566:role/MockRCBackupTestRole",
        "resourceArn": "arn:aws:service:us-west-2:1112233445566:resource-type/resource-id",
        "resourceType": "type",
        "state": "ABORTED",
        "statusMessage": '"Backup job was stopped by user."',
        "completionDate": "2020-07-15T21:33:01.621Z",
        "startBy": "2020-07-16T05:33:00.803Z",
        "percentDone": 0,
    },
}
BACKUP_JOB_EXPIRED: dict[str, Any] = {
    "version": "0",
    "id": "1d7bbc04-6120-1145-13b9-49b0af465328",
    "detail-type": "Backup Job State Change",
    "source": "aws.backup",
    "account": "1112233445566",
    "time": "2020-07-29T13:04:57Z",
    "region": "us-west-2",
    "resources": [],
    "detail": {
        "backupJobId": "01EE26DC-7107-4D8E-0C54-EAC27C662BA4",
        "backupVaultArn": "arn:aws:backup:us-west-2:1112233445566:backup-vault:aws/backup/AutomatedBackupVaultDel2",
        "backupVaultName": "aws/backup/AutomatedBackupVaultDel2",
        "bytesTransferred": "0",
        "creationDate": "2020-07-29T05:10:20.077Z",
        "iamRoleArn": "arn:aws:iam::1112233445566:role/MockRCBackupTestRole",
        "resourceArn": "arn:aws:service:us-west-2:1112233445566:resource-type/resource-id",
        "resourceType": "type",
        "state": "EXPIRED",
        "statusMessage": '"Backup job failed because there was a running job for the same resource."',
        "completionDate": "2020-07-29T13:02:15.234Z",
        "startBy": "2020-07-29T13:00:00Z",
        "percentDone": 0,
        "createdBy": {
            "backupPlanId": "aws/efs/414a5bd4-f880-47ad-95f3-f085108a4c3b",
            "backupPlanArn": "arn:aws:backup:us-west-2:1112233445566:backup-plan:aws/efs/414a5bd4-f880-47ad-95f3-f085108a4c3b",
            "backupPlanVersion": "NjBjOTUzZjYtYzZiNi00NjhlLWIzMTEtNWRjOWY0YTNjN2Vj",
            "backupPlanRuleId": "3eb0017c-f262-4211-a802-302cebb11dc2",
        },
    },
}
BACKUP_JOB_COMPLETED: dict[str, Any] = {
    "version": "0",
    "id": "dafac799-9b88-0134-26b7-fef4d54a134f",
    "detail-type": "Backup Job State Change",
    "source": "aws.backup",
    "account": "1112233445566",
    "time": "2020-07-15T21:41:17Z",
    "region": "us-west-2",
    "resources": [
        "arn:aws:backup:us-west-2:1112233445566:recovery-point:f1d966fe-a3bd-410b-b292-99f442d13b56"
    ],
    "detail": {
        "backupJobId": "a827233a-d405-4a86-a440-759fa94f34dd",
        "backupSizeInBytes": "36048",
        "backupVaultArn": "arn:aws:backup:us-west-2:1112233445566:backup-vault:9732c1b4-1091-472a-9d9f-52e0565ee39a",
        "backupVaultName": "9732c1b4-1091-472a-9d9f-52e0565ee39a",
        "bytesTransferred": "36048",
        "creationDate": "2020-07-15T21:40:31.207Z",
        "iamRoleArn": "arn:aws:iam::1112233445566:role/MockRCBackupTestRole",
        "resourceArn": "arn:aws:service:us-west-2:1112233445566:resource-type/resource-id",
        "resourceType": "type",
        "state": "COMPLETED",
        "completionDate": "2020-07-15T21:41:05.921Z",
        "startBy": "2020-07-16T05:40:31.207Z",
        "percentDone": 100,
        "retryCount": 3,
    },
}
