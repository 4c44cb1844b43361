"""HBase outside the Pinpoint tasks (``hbase_mode`` emr or external), behind one small interface.

The collector, web and bootstrap tasks need three things from it: the ZooKeeper quorum
(``host:port,...``), the znode parent, and network reach. An HBase 2 client finds ``hbase:meta``
through ZooKeeper (2181), calls the master for admin operations (16000: Pinpoint's
HbaseVersionCheckBean asks it for the cluster version at start, commons-hbase at v3.1.0; the
bootstrap creates tables through it) and reads/writes on the RegionServers (16020). On EMR,
ZooKeeper and the master run on the primary node, RegionServers on the core nodes
(aws/aws-emr-best-practices, website/docs/bestpractices/Applications/HBase/security.md,
"HBase Services Ports").

Both satisfy ``fargate.HBaseEndpoint``.

* :class:`EmrHBase`: an Amazon EMR cluster running HBase with its data on S3 (HBase storage mode
  S3, ``hbase.rootdir`` in a KMS-encrypted bucket the stack owns and retains), Graviton nodes in a
  private subnet, a security configuration (at rest: S3 and local disks; in transit: TLS with the
  user's certificates), logs to S3, termination protection, least-privilege roles, and extra
  security groups that admit only the Pinpoint task groups, on those ports only.
* :class:`ExternalHBase`: the user's HBase; the tasks get egress to its ports in
  ``hbase_external_cidrs`` (default: the VPC's CIDR). Its own security groups are the user's to open.
"""

from __future__ import annotations

import hashlib
import json

from aws_cdk import Annotations, CfnTag, RemovalPolicy, Stack, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_emr as emr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.config import PlatformConfig
from stacks.constructs.load_balancer import retained_log_bucket
from stacks.nag import acknowledge

ZOOKEEPER_PORT = 2181
MASTER_PORT = 16000
REGIONSERVER_PORT = 16020
# The default parent znode of HBase, and EMR's (the schema refuses another with hbase_mode=emr).
EMR_ZNODE_PARENT = "/hbase"
HBASE_ROOT_PREFIX = "hbase"
# What makes CloudFormation replace the cluster (AWS::EMR::Cluster createOnlyProperties: Name,
# ReleaseLabel, SecurityConfiguration, ...): it starts the new cluster before it deletes the old
# one (which termination protection then refuses), and two clusters must never share an HBase
# root directory (ReleaseGuide emr-hbase-s3). Each such generation gets its own root directory.
REPLACING_SETTINGS = (
    "name_prefix",
    "emr_release_label",
    "emr_in_transit_encryption",
    "emr_tls_certificates_s3_uri",
)
EMR_LOG_PREFIX = "emr-logs"
# AmazonEMRServicePolicy_v2 lets EMR create instances and network interfaces only in subnets and
# security groups with this tag (ManagementGuide: emr-iam-role, "Tagging resources to use managed
# policies"); EMR propagates it from the cluster to what it creates.
EMR_MANAGED_TAG = ("for-use-with-amazon-emr-managed-policies", "true")


def hbase_root_dir(config: PlatformConfig) -> str:
    """``hbase/<generation>``: the same as long as the cluster is the same one."""
    settings = json.dumps({key: getattr(config, key) for key in REPLACING_SETTINGS}, sort_keys=True)
    return f"{HBASE_ROOT_PREFIX}/{hashlib.sha256(settings.encode()).hexdigest()[:12]}"


class ExternalHBase:
    """The user's HBase (``hbase_zookeeper_quorum``): egress from the client tasks to its
    ZooKeeper ports, 16000 and 16020 in ``hbase_external_cidrs`` (default: the VPC's CIDR).

    Which security groups guard the user's nodes is unknown here: they must admit the task
    groups (or the VPC's CIDR) on those ports; the README lists what to open.
    """

    def __init__(self, config: PlatformConfig, *, vpc_cidr: str) -> None:
        self.zookeeper_quorum = ",".join(config.hbase_zookeeper_quorum)
        self.znode_parent = config.hbase_znode_parent
        quorum_ports = {int(server.rsplit(":", 1)[1]) for server in config.hbase_zookeeper_quorum}
        self.ports = sorted(quorum_ports | {MASTER_PORT, REGIONSERVER_PORT})
        self.cidrs = list(config.hbase_external_cidrs) or [vpc_cidr]

    def allow_client(self, group: ec2.SecurityGroup, description: str) -> None:
        for cidr in self.cidrs:
            for port in self.ports:
                group.add_egress_rule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(port), f"{description} to HBase")


class EmrHBase(Construct):
    """Exposes ``cluster``, ``data_bucket``, ``log_bucket``, ``key``, ``security_configuration``,
    ``service_role``, ``instance_role``, ``primary_client_group`` / ``core_client_group`` (the
    additional groups that admit the Pinpoint tasks), ``zookeeper_quorum`` and ``znode_parent``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        vpc: ec2.IVpc,
        subnet: ec2.ISubnet,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        # Retained with the bucket it encrypts: deleting it would make the retained data unreadable.
        self.key = kms.Key(
            self,
            "Key",
            description="Pinpoint HBase on EMR: the data bucket and the nodes' local disks",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.log_bucket = self._log_bucket(config)
        # HBase store files on S3 outlive the cluster: a new cluster with the same rootdir serves
        # them again. No versioning: compactions delete store files all the time.
        self.data_bucket = s3.Bucket(
            self,
            "Data",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix="s3-access/hbase-data/",
            removal_policy=RemovalPolicy.RETAIN,
        )

        self.instance_role = self._instance_role(config)
        instance_profile = iam.CfnInstanceProfile(
            self, "InstanceProfile", roles=[self.instance_role.role_name]
        )
        self.service_role = self._service_role()
        self.security_configuration = self._security_configuration(config)

        groups = self._security_groups(vpc)
        if subnet.node.default_child is not None:  # a subnet of the new VPC: ours to tag
            Tags.of(subnet).add(*EMR_MANAGED_TAG)
        else:
            Annotations.of(self).add_warning_v2(
                "pinpoint:emrSubnetTag",
                f"EMR's service policy (AmazonEMRServicePolicy_v2) launches nodes only in subnets tagged "
                f"{EMR_MANAGED_TAG[0]}={EMR_MANAGED_TAG[1]}: tag {subnet.subnet_id} before make deploy",
            )

        self.cluster = emr.CfnCluster(
            self,
            "Cluster",
            name=f"{config.name_prefix}-hbase",
            release_label=config.emr_release_label,
            # HBase brings its components: for emr-7.13.0, HBase 2.6.4-amzn-0 with zookeeper-server and
            # the HDFS daemons the write-ahead log lives on (ReleaseGuide: HBase release history).
            applications=[emr.CfnCluster.ApplicationProperty(name="HBase")],
            # ReleaseGuide emr-hbase-s3: storage mode S3 ("hbase" classification) and the root
            # directory in S3 ("hbase-site").
            configurations=[
                emr.CfnCluster.ConfigurationProperty(
                    classification="hbase", configuration_properties={"hbase.emr.storageMode": "s3"}
                ),
                emr.CfnCluster.ConfigurationProperty(
                    classification="hbase-site",
                    configuration_properties={
                        "hbase.rootdir": f"s3://{self.data_bucket.bucket_name}/{hbase_root_dir(config)}"
                    },
                ),
            ],
            instances=emr.CfnCluster.JobFlowInstancesConfigProperty(
                ec2_subnet_id=subnet.subnet_id,
                emr_managed_master_security_group=groups["primary"].security_group_id,
                emr_managed_slave_security_group=groups["core"].security_group_id,
                service_access_security_group=groups["service"].security_group_id,
                additional_master_security_groups=[groups["primary_clients"].security_group_id],
                additional_slave_security_groups=[groups["core_clients"].security_group_id],
                master_instance_group=emr.CfnCluster.InstanceGroupConfigProperty(
                    name="primary",
                    instance_count=1,
                    instance_type=config.emr_primary_instance_type,
                    market="ON_DEMAND",
                ),
                core_instance_group=emr.CfnCluster.InstanceGroupConfigProperty(
                    name="core",
                    instance_count=config.emr_core_instance_count,
                    instance_type=config.emr_core_instance_type,
                    market="ON_DEMAND",
                ),
                # A long-running HBase: no steps, and no accidental termination (turn it off before
                # make destroy; the data stays in S3 either way).
                keep_job_flow_alive_when_no_steps=True,
                termination_protected=True,
            ),
            job_flow_role=instance_profile.ref,
            service_role=self.service_role.role_arn,
            security_configuration=self.security_configuration.ref,
            log_uri=f"s3://{self.log_bucket.bucket_name}/{EMR_LOG_PREFIX}/",
            visible_to_all_users=True,
            tags=[CfnTag(key=EMR_MANAGED_TAG[0], value=EMR_MANAGED_TAG[1])],
        )
        # The nodes need their S3 and KMS permissions from the first boot on.
        self.cluster.node.add_dependency(self.instance_role)
        self.cluster.node.add_dependency(self.service_role)

        # MasterPublicDNS: "If the cluster is on a private subnet, this is the private DNS name"
        # (EMR API Cluster.MasterPublicDnsName). ZooKeeper runs on the primary node.
        self.zookeeper_quorum = f"{self.cluster.attr_master_public_dns}:{ZOOKEEPER_PORT}"
        self.znode_parent = EMR_ZNODE_PARENT
        self.primary_client_group = groups["primary_clients"]
        self.core_client_group = groups["core_clients"]
        self._acknowledge(config, stack)

    def allow_client(self, group: ec2.SecurityGroup, description: str) -> None:
        """ZooKeeper and the master on the primary node, RegionServers on the core nodes; to
        ``group`` only (an ingress rule on the cluster's additional group, egress on ``group``)."""
        for port in (ZOOKEEPER_PORT, MASTER_PORT):
            group.connections.allow_to(self.primary_client_group, ec2.Port.tcp(port), description)
        group.connections.allow_to(self.core_client_group, ec2.Port.tcp(REGIONSERVER_PORT), description)

    # --- pieces ------------------------------------------------------------------------------

    def _log_bucket(self, config: PlatformConfig) -> s3.Bucket:
        """EMR's logs and the data bucket's access logs, retained like the ALB's."""
        bucket = retained_log_bucket(self, "Logs", config=config)
        acknowledge(
            bucket,
            "AwsSolutions::AwsSolutions-S1",
            "This bucket only receives EMR's logs and the data bucket's access logs; logging its own "
            "accesses to another bucket would need a second bucket with the same finding.",
        )
        return bucket

    def _instance_role(self, config: PlatformConfig) -> iam.Role:
        """The nodes' role (EMRFS, the log pusher, local-disk encryption): the data bucket, the
        log prefix, the certificate zip and the key; nothing else (AWS deprecates the broad
        AmazonElasticMapReduceforEC2Role, ManagementGuide emr-iam-role-for-ec2)."""
        role = iam.Role(
            self,
            "InstanceRole",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="Pinpoint HBase on EMR: cluster nodes (EMRFS on the data bucket, logs, disk keys)",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="DataBucket",
                actions=["s3:ListBucket", "s3:GetBucketLocation"],
                resources=[self.data_bucket.bucket_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="HBaseRootDir",
                actions=[
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                resources=[self.data_bucket.arn_for_objects(f"{HBASE_ROOT_PREFIX}/*")],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="Logs",
                actions=["s3:PutObject"],
                resources=[self.log_bucket.arn_for_objects(f"{EMR_LOG_PREFIX}/*")],
            )
        )
        if config.emr_tls_certificates_s3_uri:
            bucket, key = config.emr_tls_certificates_s3_uri.removeprefix("s3://").split("/", 1)
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="TlsCertificates",
                    actions=["s3:GetObject"],
                    resources=[f"arn:{Stack.of(self).partition}:s3:::{bucket}/{key}"],
                )
            )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="DataAndDiskKey",
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[self.key.key_arn],
            )
        )
        return role

    def _service_role(self) -> iam.Role:
        """EMR's own role: AWS's scoped v2 policy (it acts only on resources tagged
        for-use-with-amazon-emr-managed-policies), passing the node role, and the key for the
        encrypted EBS volumes it launches."""
        stack = Stack.of(self)
        role = iam.Role(
            self,
            "ServiceRole",
            assumed_by=iam.ServicePrincipal(
                "elasticmapreduce.amazonaws.com",
                # Confused-deputy guard: only EMR acting for this account.
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            ),
            description="Pinpoint HBase on EMR: the EMR service role",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AmazonEMRServicePolicy_v2")
            ],
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PassNodeRole",
                actions=["iam:PassRole"],
                resources=[self.instance_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
            )
        )
        # EBS encryption with a customer key: the launching principal needs these, and grants for
        # the attached volumes (the grant is for an AWS resource).
        role.add_to_policy(
            iam.PolicyStatement(
                sid="EncryptedVolumes",
                actions=[
                    "kms:Decrypt",
                    "kms:DescribeKey",
                    "kms:GenerateDataKeyWithoutPlaintext",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                ],
                resources=[self.key.key_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="EncryptedVolumeGrants",
                actions=["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                resources=[self.key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": True}},
            )
        )
        return role

    def _security_configuration(self, config: PlatformConfig) -> emr.CfnSecurityConfiguration:
        """At rest: EMRFS objects SSE-KMS and local disks (LUKS + EBS) with the stack's key. In
        transit: TLS with the user's PEM certificates (EMR creates none; ManagementGuide
        emr-encryption-enable, "Providing certificates for encrypting data in transit")."""
        encryption: dict[str, object] = {
            "EnableAtRestEncryption": True,
            "AtRestEncryptionConfiguration": {
                "S3EncryptionConfiguration": {"EncryptionMode": "SSE-KMS", "AwsKmsKey": self.key.key_arn},
                "LocalDiskEncryptionConfiguration": {
                    "EncryptionKeyProviderType": "AwsKms",
                    "AwsKmsKey": self.key.key_arn,
                    "EnableEbsEncryption": True,
                },
            },
            "EnableInTransitEncryption": config.emr_in_transit_encryption,
        }
        if config.emr_in_transit_encryption:
            encryption["InTransitEncryptionConfiguration"] = {
                "TLSCertificateConfiguration": {
                    "CertificateProviderType": "PEM",
                    "S3Object": config.emr_tls_certificates_s3_uri,
                }
            }
        return emr.CfnSecurityConfiguration(
            self, "SecurityConfiguration", security_configuration={"EncryptionConfiguration": encryption}
        )

    def _security_groups(self, vpc: ec2.IVpc) -> dict[str, ec2.SecurityGroup]:
        """EMR-managed groups (EMR writes their rules itself: node to node, and 8443/9443 between
        the service-access group and the primary in a private subnet) and two additional groups
        that only this stack's rules open: the Pinpoint tasks on the HBase client ports."""
        groups = {
            # The nodes reach S3, the EMR and KMS APIs and package repositories through the NAT or
            # endpoints, and each other on many ports EMR manages.
            "primary": ec2.SecurityGroup(
                self,
                "PrimaryGroup",
                vpc=vpc,
                description="EMR-managed: HBase primary node",
                allow_all_outbound=True,
            ),
            "core": ec2.SecurityGroup(
                self,
                "CoreGroup",
                vpc=vpc,
                description="EMR-managed: HBase core nodes",
                allow_all_outbound=True,
            ),
            "service": ec2.SecurityGroup(
                self,
                "ServiceAccessGroup",
                vpc=vpc,
                description="EMR-managed: service access (private subnet)",
                allow_all_outbound=False,
            ),
            "primary_clients": ec2.SecurityGroup(
                self,
                "PrimaryClientsGroup",
                vpc=vpc,
                description="HBase primary: ZooKeeper and master from the Pinpoint tasks only",
                allow_all_outbound=False,
            ),
            "core_clients": ec2.SecurityGroup(
                self,
                "CoreClientsGroup",
                vpc=vpc,
                description="HBase core nodes: RegionServers from the Pinpoint tasks only",
                allow_all_outbound=False,
            ),
        }
        for group in groups.values():
            Tags.of(group).add(*EMR_MANAGED_TAG)
        return groups

    def _acknowledge(self, config: PlatformConfig, stack: Stack) -> None:
        # cdk-nag 3.0.2's EMR4/EMR5 read EnableAtRestEncryption / EnableInTransitEncryption at the top
        # of SecurityConfiguration (its test/rules/EMR.test.ts), but EMR nests them under
        # EncryptionConfiguration (ManagementGuide emr-create-security-configuration); the JSON they
        # accept would be rejected by EMR. tests/unit/test_topology_emr.py asserts the real one.
        acknowledge(
            self.cluster,
            "AwsSolutions::AwsSolutions-EMR4",
            "Local disk encryption (AwsKms, EBS too) is on in the security configuration under "
            "EncryptionConfiguration, where EMR reads it; cdk-nag 3.0.2 looks for it one level up.",
        )
        if config.emr_in_transit_encryption:
            acknowledge(
                self.cluster,
                "AwsSolutions::AwsSolutions-EMR5",
                "In-transit encryption (PEM certificates from emr_tls_certificates_s3_uri) is on under "
                "EncryptionConfiguration, where EMR reads it; cdk-nag 3.0.2 looks for it one level up.",
            )
        acknowledge(
            self.cluster,
            "AwsSolutions::AwsSolutions-EMR6",
            "No SSH into the nodes at all (no EC2 key pair, nothing admits port 22); operators use SSM "
            "or EMR steps. Kerberos would also require every HBase client (Pinpoint's collector and "
            "web) to authenticate, which Pinpoint's HBase client configuration does not support.",
        )
        if not config.emr_in_transit_encryption:
            acknowledge(
                self.cluster,
                "AwsSolutions::AwsSolutions-EMR5",
                "emr_in_transit_encryption=false was chosen explicitly (no certificate zip); the cluster "
                "is in a private subnet and its groups admit only the Pinpoint tasks (synth warns).",
            )
            Annotations.of(self).add_warning_v2(
                "pinpoint:emrInTransitOff",
                "emr_in_transit_encryption=false: traffic between the EMR nodes is not TLS-encrypted; "
                "set emr_tls_certificates_s3_uri to turn it on",
            )
        acknowledge(
            self.service_role,
            "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonEMRServicePolicy_v2]",
            "AWS's scoped EMR service policy (v2): it creates and manages instances, network interfaces "
            "and launch templates only in subnets and groups tagged for-use-with-amazon-emr-managed-"
            "policies, as this stack tags them; EMR requires these actions to run a cluster.",
        )
        acknowledge(
            self.instance_role,
            f"AwsSolutions::AwsSolutions-IAM5[Resource::<{stack.get_logical_id(self.data_bucket.node.default_child)}"
            f".Arn>/{HBASE_ROOT_PREFIX}/*]",
            "HBase on S3 creates, reads and deletes store files under its root directory; their names "
            "are not known in advance. Scoped to the root prefix of this stack's data bucket.",
        )
        acknowledge(
            self.instance_role,
            f"AwsSolutions::AwsSolutions-IAM5[Resource::<{stack.get_logical_id(self.log_bucket.node.default_child)}"
            f".Arn>/{EMR_LOG_PREFIX}/*]",
            "EMR's log pusher writes one object per node, application and time slice under the log "
            "prefix; only PutObject, only under that prefix of this stack's log bucket.",
        )
