"""Puts the pinned, configured Pinpoint agent on the agent EFS access point during ``cdk deploy``.

No EC2 and no scp (the seed's route): a Lambda in the private subnets mounts the access point
read-write and runs ``agent_distribution/handler.py`` as a custom resource. It downloads the
release, verifies its SHA-512, writes our settings, and switches ``<mount>/current`` atomically
(see the handler's docstring). The resource's properties are the whole input, so a deploy that
changes nothing about the agent does not invoke it, and one that does gets a new versioned
directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from aws_cdk import Annotations, CustomResource, Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.config import PlatformConfig
from stacks.constructs.agent_volume import AgentVolume
from stacks.constructs.log_groups import log_group
from stacks.nag import acknowledge

# Bundles kept on the volume: tasks resolve `current` once at start and keep that path.
KEEP_VERSIONS = 3
HANDLER_DIR = Path(__file__).with_name("agent_distribution")
# Where the Lambda mounts the access point (Lambda requires /mnt/...). Applications mount the
# same access point elsewhere, which is why `current` is a relative link.
LAMBDA_MOUNT_PATH = "/mnt/agent"
# The handler answers CloudFormation itself 15 s before the Lambda's timeout; CloudFormation waits
# this long for an answer that never comes (an EFS mount error fails the invocation before the
# handler runs) instead of its default hour, twice with the rollback.
LAMBDA_TIMEOUT = Duration.minutes(10)
SERVICE_TIMEOUT = Duration.minutes(15)
# The release tarball ships the bootstrap jar twice: pinpoint-bootstrap-<v>.jar and this
# version-less copy (agent-module/agent/src/assembly/component/core.xml at v3.1.0:
# <outputFileNameMapping>pinpoint-bootstrap.jar</outputFileNameMapping>). Pointing -javaagent at
# it means a version bump never leaves APM_OPTS naming a jar that is no longer there.
BOOTSTRAP_JAR = "pinpoint-bootstrap.jar"
# Placeholder in the ApmOpts output: each service puts its own applicationName there.
APPLICATION_NAME_PLACEHOLDER = "<application-name>"


def agent_settings(config: PlatformConfig) -> dict[str, object]:
    """The handler's ``AgentSettings``: what the bundle's config files will say."""
    return {
        # Service Connect clients resolve this name to the collector (see pinpoint_service.py).
        "collector_host": config.collector_dns_name,
        "agent_port": config.collector_agent_port,
        "stat_port": config.collector_stat_port,
        "span_port": config.collector_span_port,
        "profile": config.agent_profile,
        "sampling_percent": config.agent_sampling_percent,
        "excluded_urls": list(config.agent_excluded_urls),
        "recorded_headers": list(config.agent_recorded_headers),
    }


def agent_jar_path(mount_path: str) -> str:
    """The version-less bootstrap jar as an application container sees it through ``current``."""
    return f"{mount_path}/current/{BOOTSTRAP_JAR}"


def apm_opts(mount_path: str, application_name: str) -> str:
    """APM_OPTS for images/app: the agent jar, the application name, and container mode.

    ``-Dpinpoint.container=true``: Fargate tasks come and go with new agent ids, and the web
    treats container agents accordingly (e.g. hides them once stopped). The agent decides it
    from this system property, else from /.dockerenv or KUBERNETES_SERVICE_HOST, neither of which
    a Fargate task has (profiler/.../util/ContainerResolver.java at v3.1.0).

    The agentId is left out on purpose: the image's entrypoint derives a unique one per task
    from the ECS task id (a fixed agentId shared by several tasks corrupts their data).
    """
    return (
        f"-javaagent:{agent_jar_path(mount_path)} -Dpinpoint.applicationName={application_name}"
        " -Dpinpoint.container=true"
    )


class AgentDistribution(Construct):
    """Exposes ``resource`` (depend on it to start after the agent is in place), ``function``,
    ``role`` (the only writer of the agent file system), ``security_group`` and ``bundle_id``
    (the installed ``versions/<id>``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        agent_volume: AgentVolume,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Pinpoint agent distributor: EFS, the release download, CloudFormation",
            allow_all_outbound=False,
        )
        # HTTPS for the GitHub release (via NAT) and the CloudFormation response URL (S3).
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS")
        download_port = _port_of(config.agent_download_base_url)
        if download_port != 443:
            self.security_group.add_egress_rule(
                ec2.Peer.any_ipv4(), ec2.Port.tcp(download_port), "Agent download mirror"
            )
        agent_volume.allow_mount_from(self.security_group, "Agent distribution Lambda")

        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Pinpoint agent distributor: logs, VPC networking, read-write agent mount",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWSLambdaVPCAccessExecutionRole")
            ],
        )
        role.add_to_policy(agent_volume.read_write_mount_statement())
        self.role = role

        self.function = lambda_.Function(
            self,
            "Function",
            description=f"Installs the Pinpoint agent {config.pinpoint_version} on the agent EFS access point",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(HANDLER_DIR), exclude=["__pycache__", "*.pyc"]),
            # Download (~40 MB) + unpacking a few hundred files onto EFS; the handler answers
            # CloudFormation itself 15 s before this runs out.
            timeout=LAMBDA_TIMEOUT,
            memory_size=512,
            role=role,
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            filesystem=lambda_.FileSystem.from_efs_access_point(agent_volume.access_point, LAMBDA_MOUNT_PATH),
            environment={"AGENT_ROOT": LAMBDA_MOUNT_PATH},
            log_group=log_group(self, "Logs", config=config),
            # CloudFormation invokes asynchronously; a retry after a timeout would race the
            # FAILED answer already sent. One attempt, one answer.
            retry_attempts=0,
        )

        if config.agent_sha512 is None:
            Annotations.of(self).add_warning_v2(
                "pinpoint:agentSha512Missing",
                f"agent_sha512 is not set: the deploy will fail at {self.node.path} rather than install "
                f"an unverified pinpoint-agent-{config.pinpoint_version}.tar.gz; make deploy pins it on first "
                "use, or set -c agent_sha512=<sha512> (docs/agent.md)",
            )
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=self.function.function_arn,
            resource_type="Custom::PinpointAgent",
            service_timeout=SERVICE_TIMEOUT,
            properties={
                "Version": config.pinpoint_version,
                "Sha512": config.agent_sha512 or "",
                "DownloadBaseUrl": config.agent_download_base_url,
                "Settings": json.dumps(agent_settings(config), sort_keys=True),
                "KeepVersions": str(KEEP_VERSIONS),
            },
        )
        self.bundle_id = self.resource.get_att_string("BundleId")

        acknowledge(
            role,
            "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaVPCAccessExecutionRole]",
            "AWS's own policy for a VPC Lambda: exactly the ENI and log actions Lambda needs, none of "
            "which (Describe/Create/DeleteNetworkInterface) can be scoped to resources.",
        )
        acknowledge(
            role,
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            "Added by lambda.FileSystem.from_efs_access_point: elasticfilesystem:ClientMount on * with a "
            "condition on this stack's agent access point ARN, so it allows only that access point.",
        )


def _port_of(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)
