"""Termination protection for the EMR cluster that runs HBase, turned on only once the Pinpoint
tables exist (so a failed first deploy can still roll back) and off again when CloudFormation
deletes it: an AwsCustomResource calling EMR's SetTerminationProtection.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_emr as emr
from aws_cdk import aws_iam as iam
from aws_cdk import custom_resources as cr
from constructs import Construct, IDependable

from stacks.config import PlatformConfig
from stacks.constructs.log_groups import log_group
from stacks.nag import acknowledge


def protect_after(
    scope: Construct, cluster: emr.CfnCluster, tables: IDependable, *, config: PlatformConfig
) -> cr.AwsCustomResource:
    """Termination protection once ``tables`` exist, off again when CloudFormation deletes it.

    EMR's SetTerminationProtection on this cluster (its id is the resource's physical id):

    * first deploy: on after the table bootstrap; if anything later fails, the rollback
      deletes this resource first (protection off), then the cluster;
    * a replaced cluster: the new one is protected, and the old one is unprotected when
      CloudFormation deletes the old resource (its properties name the old cluster), so the
      cleanup can terminate it instead of leaving it billed;
    * make destroy: off, then the cluster is deleted (HBase data stays in S3; with emr_wal
      unflushed edits stay in EMR WAL for 30 days, ReleaseGuide emr-hbase-wal).
    """
    stack = Stack.of(scope)
    cluster_arn = stack.format_arn(service="elasticmapreduce", resource="cluster", resource_name=cluster.ref)

    def call(protected: bool) -> cr.AwsSdkCall:
        return cr.AwsSdkCall(
            service="EMR",
            action="setTerminationProtection",
            parameters={"JobFlowIds": [cluster.ref], "TerminationProtected": protected},
            physical_resource_id=cr.PhysicalResourceId.of(cluster.ref),
            # Unprotecting a cluster that is already gone (terminated by hand) is done.
            ignore_error_codes_matching=None if protected else "ValidationException|InvalidRequestException",
        )

    logs = log_group(scope, "TerminationProtectionLogs", config=config)
    role = iam.Role(
        scope,
        "TerminationProtectionRole",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description="Pinpoint HBase on EMR: turns the cluster's termination protection on and off",
    )
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[logs.log_group_arn]
        )
    )
    protection = cr.AwsCustomResource(
        scope,
        "TerminationProtection",
        resource_type="Custom::EmrTerminationProtection",
        on_create=call(True),
        on_update=call(True),
        on_delete=call(False),
        policy=cr.AwsCustomResourcePolicy.from_statements(
            [
                iam.PolicyStatement(
                    actions=["elasticmapreduce:SetTerminationProtection"], resources=[cluster_arn]
                )
            ]
        ),
        role=role,
        log_group=logs,
        install_latest_aws_sdk=False,
    )
    protection.node.add_dependency(tables)
    acknowledge(
        protection,
        "AwsSolutions::AwsSolutions-L1",
        "The AwsCustomResource function runs the Node.js runtime aws-cdk-lib pins for it "
        "(determineLatestNodeRuntime); it makes one EMR API call per deploy.",
    )
    return protection
