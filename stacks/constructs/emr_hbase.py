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
  S3, ``hbase.rootdir`` in a KMS-encrypted bucket the stack owns and retains; a new root
  directory whenever CloudFormation would replace the cluster), its write-ahead log in Amazon
  EMR WAL (or two HDFS copies), Graviton nodes in a private subnet, a security configuration (at
  rest: S3 and local disks; in transit: TLS with the user's certificates, when given), logs to
  S3, termination protection once the tables exist, least-privilege roles, and extra security
  groups that admit only the Pinpoint task groups, on those ports only.
* :class:`ExternalHBase`: the user's HBase; the tasks get egress to its ports in
  ``hbase_external_cidrs`` (default: the VPC's CIDR). Its own security groups are the user's to open.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping
from typing import Any

from aws_cdk import Annotations, Aws, CfnTag, RemovalPolicy, Stack, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_emr as emr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import custom_resources as cr
from constructs import Construct, IDependable

from stacks.config import PlatformConfig
from stacks.constructs.emr_termination_protection import protect_after
from stacks.constructs.load_balancer import retained_log_bucket
from stacks.constructs.replacement import ResolvedResources, fingerprint
from stacks.nag import acknowledge

ZOOKEEPER_PORT = 2181
MASTER_PORT = 16000
REGIONSERVER_PORT = 16020
# The default parent znode of HBase, and EMR's (the schema refuses another with hbase_mode=emr).
EMR_ZNODE_PARENT = "/hbase"
HBASE_ROOT_PREFIX = "hbase"
ROOT_DIR_PROPERTY = "hbase.rootdir"
EMR_LOG_PREFIX = "emr-logs"
# The service-access group of a cluster in a private subnet (EMR 5.30.0 to 7.x): EMR adds missing
# *inbound* rules to managed groups itself, but not this group's: 9443 in from the primary's group,
# 8443 out to the primary's and the core nodes' groups (ManagementGuide emr-man-sec-groups,
# "Amazon EMR-managed security group for service access (private subnets)").
SERVICE_ACCESS_INBOUND_PORT = 9443
CLUSTER_MANAGER_PORT = 8443
# EMR WAL: what the nodes call (ReleaseGuide emr-hbase-wal-permissions, the minimum for HBase) and
# the service-linked role HBase creates on first use (ManagementGuide using-service-linked-roles-wal).
EMR_WAL_ACTIONS = (
    "emrwal:AppendEdit",
    "emrwal:ArchiveWAL",
    "emrwal:ArchiveWALCheckPoint",
    "emrwal:CompleteWalFlush",
    "emrwal:CreateWal",
    "emrwal:CreateWorkspace",
    "emrwal:DeleteWal",
    "emrwal:DescribeWAL",
    "emrwal:GetCurrentWalTime",
    "emrwal:ListWALs",
    "emrwal:ReplayEdits",
    "emrwal:TrimWAL",
)
EMR_WAL_SERVICE = "emrwal.amazonaws.com"
# AmazonEMRServicePolicy_v2 lets EMR create instances and network interfaces only in subnets and
# security groups with this tag (ManagementGuide: emr-iam-role, "Tagging resources to use managed
# policies"); EMR propagates it from the cluster to what it creates.
EMR_MANAGED_TAG = ("for-use-with-amazon-emr-managed-policies", "true")


def cluster_configurations(config: PlatformConfig, root_dir_uri: str) -> list[dict[str, Any]]:
    """The cluster's application configuration (classification -> properties).

    * ReleaseGuide emr-hbase-s3: storage mode S3 ("hbase") and the root directory ("hbase-site").
    * WAL durability. EMR sets ``dfs.replication`` to 1 below four core nodes (ReleaseGuide
      emr-hdfs-config), so an HDFS WAL would have one copy. ``emr_wal``: the WAL goes to Amazon
      EMR WAL instead (``hbase.emr.wal.enabled`` in "hbase", ReleaseGuide emr-hbase-wal-enabling);
      else two HDFS copies on two core nodes (the schema requires two).
    * In transit: HBase 2.6's Netty RPC server keeps accepting plaintext next to TLS unless
      ``hbase.server.netty.tls.supportplaintext`` is false (hbase-common X509Util and
      NettyRpcServer at branch-2.6: default true); Pinpoint 3.1's HBase 2.5 client has no TLS, so
      the cluster says so explicitly whatever EMR's in-transit setup turns on.
    """
    hbase = {"hbase.emr.storageMode": "s3"}
    hbase_site = {ROOT_DIR_PROPERTY: root_dir_uri}
    configurations = []
    if config.emr_wal:
        hbase["hbase.emr.wal.enabled"] = "true"
    else:
        configurations.append(
            {"Classification": "hdfs-site", "ConfigurationProperties": {"dfs.replication": "2"}}
        )
    if config.emr_in_transit:
        hbase_site["hbase.server.netty.tls.supportplaintext"] = "true"
    return [
        {"Classification": "hbase", "ConfigurationProperties": hbase},
        {"Classification": "hbase-site", "ConfigurationProperties": hbase_site},
        *configurations,
    ]


def without_root_dir(properties: dict[str, Any]) -> dict[str, Any]:
    """Cluster properties with the root directory left out: what its generation is computed from
    (the root directory is named after it)."""
    configurations = [
        {
            **item,
            "ConfigurationProperties": {
                key: value
                for key, value in item.get("ConfigurationProperties", {}).items()
                if key != ROOT_DIR_PROPERTY
            },
        }
        for item in properties.get("Configurations", [])
    ]
    return {**properties, "Configurations": configurations}


def generation(resources: Mapping[str, Mapping[str, Any]], cluster_id: str) -> str:
    """The cluster's replacement fingerprint (stacks/constructs/replacement.py), its root left out."""
    cluster = resources[cluster_id]
    patched = {**cluster, "Properties": without_root_dir(dict(cluster["Properties"]))}
    return fingerprint(ChainMap({cluster_id: patched}, resources), cluster_id)


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
    ``service_role``, ``instance_role``, ``instance_profile``, ``groups`` (``primary``, ``core``,
    ``service``: EMR-managed; ``primary_clients``, ``core_clients``: the additional groups that
    admit the Pinpoint tasks), ``root_dir``, ``zookeeper_quorum`` and ``znode_parent``; call
    :meth:`protect_after` with the table bootstrap."""

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
        self._config = config
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
        # EMR requires the instance profile to carry its role's name: "Amazon EMR does not support
        # this configuration [different names], and it results in an 'invalid instance profile'
        # error" (ManagementGuide emr-iam-roles-custom).
        self.instance_profile = iam.CfnInstanceProfile(
            self,
            "InstanceProfile",
            instance_profile_name=self.instance_role.role_name,
            roles=[self.instance_role.role_name],
        )
        self.service_role = self._service_role()
        self.security_configuration = self._security_configuration(config)

        self.groups = self._security_groups(vpc)
        if subnet.node.default_child is not None:  # a subnet of the new VPC: ours to tag
            Tags.of(subnet).add(*EMR_MANAGED_TAG)
        else:
            Annotations.of(self).add_warning_v2(
                "pinpoint:emrSubnetTag",
                f"EMR's service policy (AmazonEMRServicePolicy_v2) launches nodes only in subnets tagged "
                f"{EMR_MANAGED_TAG[0]}={EMR_MANAGED_TAG[1]}: tag {subnet.subnet_id} before make deploy",
            )

        groups = self.groups
        self.cluster = emr.CfnCluster(
            self,
            "Cluster",
            name=f"{config.name_prefix}-hbase",
            release_label=config.emr_release_label,
            # HBase brings its components: for emr-7.13.0, HBase 2.6.4-amzn-0 with zookeeper-server,
            # the HDFS daemons and emr-wal-cli (ReleaseGuide: HBase release history).
            applications=[emr.CfnCluster.ApplicationProperty(name="HBase")],
            configurations=self._configurations(config, root_dir_uri=""),
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
                keep_job_flow_alive_when_no_steps=True,
                # Not from creation: a protected cluster cannot be deleted by a rollback (a failed
                # table bootstrap would leave ROLLBACK_FAILED and a billed cluster). protect_after()
                # turns protection on once the tables exist; TerminationProtected itself updates
                # in place (CloudFormation template reference, JobFlowInstancesConfig: "No interruption").
                termination_protected=False,
            ),
            job_flow_role=self.instance_profile.ref,
            service_role=self.service_role.role_arn,
            security_configuration=self.security_configuration.ref,
            log_uri=f"s3://{self.log_bucket.bucket_name}/{EMR_LOG_PREFIX}/",
            visible_to_all_users=True,
            tags=[CfnTag(key=EMR_MANAGED_TAG[0], value=EMR_MANAGED_TAG[1])],
        )
        # The nodes need their S3 and KMS permissions from the first boot on.
        self.cluster.node.add_dependency(self.instance_role)
        self.cluster.node.add_dependency(self.service_role)

        # One active cluster per root directory (ReleaseGuide emr-hbase-s3, emr-hbase-wal-enabling):
        # CloudFormation creates a replacing cluster before it deletes the old one, so every
        # cluster CloudFormation would create anew gets a root of its own, named after everything
        # that replaces it (stacks/constructs/replacement.py). Updates in place keep the root.
        cluster_id = stack.resolve(self.cluster.logical_id)
        self.root_dir = f"{HBASE_ROOT_PREFIX}/{generation(ResolvedResources(stack), cluster_id)}"
        self.cluster.configurations = self._configurations(
            config, root_dir_uri=f"s3://{self.data_bucket.bucket_name}/{self.root_dir}"
        )

        # MasterPublicDNS: "If the cluster is on a private subnet, this is the private DNS name"
        # (EMR API Cluster.MasterPublicDnsName). ZooKeeper runs on the primary node.
        self.zookeeper_quorum = f"{self.cluster.attr_master_public_dns}:{ZOOKEEPER_PORT}"
        self.znode_parent = EMR_ZNODE_PARENT
        self.primary_client_group = groups["primary_clients"]
        self.core_client_group = groups["core_clients"]
        self._acknowledge(config, stack)

    def protect_after(self, tables: IDependable) -> cr.AwsCustomResource:
        """Termination protection once ``tables`` exist, off again when CloudFormation deletes it
        (stacks/constructs/emr_termination_protection.py)."""
        return protect_after(self, self.cluster, tables, config=self._config)

    def allow_client(self, group: ec2.SecurityGroup, description: str) -> None:
        """ZooKeeper and the master on the primary node, RegionServers on the core nodes; to
        ``group`` only (an ingress rule on the cluster's additional group, egress on ``group``)."""
        for port in (ZOOKEEPER_PORT, MASTER_PORT):
            group.connections.allow_to(self.primary_client_group, ec2.Port.tcp(port), description)
        group.connections.allow_to(self.core_client_group, ec2.Port.tcp(REGIONSERVER_PORT), description)

    # --- pieces ------------------------------------------------------------------------------

    @staticmethod
    def _configurations(
        config: PlatformConfig, *, root_dir_uri: str
    ) -> list[emr.CfnCluster.ConfigurationProperty]:
        return [
            emr.CfnCluster.ConfigurationProperty(
                classification=item["Classification"],
                configuration_properties=item["ConfigurationProperties"],
            )
            for item in cluster_configurations(config, root_dir_uri)
        ]

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
        """The nodes' role (EMRFS, the log pusher, local-disk encryption, EMR WAL): the data bucket,
        the log prefix, the certificate zip, the key and EMR WAL; nothing else (AWS deprecates the
        broad AmazonElasticMapReduceforEC2Role, ManagementGuide emr-iam-role-for-ec2)."""
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
                resources=[
                    self.data_bucket.arn_for_objects(f"{HBASE_ROOT_PREFIX}/*"),
                    # EMRFS marks a directory it creates with an empty "<dir>_$folder$" object
                    # beside it: for hbase/ that key is outside hbase/* (AWS knowledge center
                    # emr-s3-empty-files). The markers below hbase/ are under hbase/*.
                    self.data_bucket.arn_for_objects(f"{HBASE_ROOT_PREFIX}_$folder$"),
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="Logs",
                actions=["s3:PutObject"],
                resources=[self.log_bucket.arn_for_objects(f"{EMR_LOG_PREFIX}/*")],
            )
        )
        if config.emr_wal:
            # The WAL API's resources are not documented beyond the action list (ReleaseGuide
            # emr-hbase-wal-permissions lists actions only): any workspace of this account.
            role.add_to_policy(
                iam.PolicyStatement(sid="EmrWal", actions=list(EMR_WAL_ACTIONS), resources=["*"])
            )
            # HBase creates EMR WAL's service-linked role on first use (ManagementGuide
            # using-service-linked-roles-wal, "Service-linked role permissions").
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="EmrWalServiceLinkedRole",
                    actions=["iam:CreateServiceLinkedRole", "iam:PutRolePolicy"],
                    resources=[
                        f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/aws-service-role/{EMR_WAL_SERVICE}/"
                        "AWSServiceRoleForEMRWAL*"
                    ],
                    conditions={"StringLike": {"iam:AWSServiceName": [EMR_WAL_SERVICE]}},
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
        transit: TLS with the user's PEM certificates, when given (EMR creates none; ManagementGuide
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
            "EnableInTransitEncryption": config.emr_in_transit,
        }
        if config.emr_in_transit:
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
        """EMR-managed groups (EMR writes their node-to-node rules and any missing inbound rule at
        launch) with the service-access rules EMR does not write, and two additional groups that
        only this stack's rules open: the Pinpoint tasks on the HBase client ports."""
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
        # ManagementGuide emr-man-sec-groups ("... service access (private subnets)", releases 5.30.0
        # to 7.x): inbound 9443 from the primary's managed group; outbound 8443 to the primary's and
        # the core nodes' managed groups. Created with the groups, so the cluster never starts
        # without them ("ServiceAccessSecurityGroup is missing ingress rule ... on port 9443").
        service = groups["service"]
        # The primary may send anything (allow_all_outbound): only the service group's side is needed.
        service.add_ingress_rule(
            groups["primary"], ec2.Port.tcp(SERVICE_ACCESS_INBOUND_PORT), "EMR primary to service access"
        )
        for name in ("primary", "core"):
            service.connections.allow_to(
                groups[name], ec2.Port.tcp(CLUSTER_MANAGER_PORT), f"EMR cluster manager to {name} nodes"
            )
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
        if config.emr_in_transit:
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
        if not config.emr_in_transit:
            acknowledge(
                self.cluster,
                "AwsSolutions::AwsSolutions-EMR5",
                "EMR's in-transit encryption needs certificates the user provides (EMR creates none) and none "
                "were given; Pinpoint's HBase client is plaintext either way. S3 (TLS-only bucket policy) and "
                "EMR WAL (encrypted by the service) traffic is encrypted; the nodes are in a private subnet "
                "and their groups admit only the Pinpoint tasks (synth warns).",
            )
            Annotations.of(self).add_warning_v2(
                "pinpoint:emrInTransitOff",
                "EMR in-transit encryption is off: traffic between the EMR nodes (HBase, HDFS, ZooKeeper) is "
                "not TLS-encrypted; set emr_tls_certificates_s3_uri to turn it on (README: hbase_mode=emr)",
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
        if config.emr_wal:
            acknowledge(
                self.instance_role,
                "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                "EMR WAL (emrwal:*WAL*, CreateWorkspace, ...): AWS documents the actions HBase needs "
                "(ReleaseGuide emr-hbase-wal-permissions) but no resource type to scope them to; only the "
                "listed actions, no emrwal:* and no workspace deletion.",
            )
            acknowledge(
                self.instance_role,
                "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/"
                f"aws-service-role/{EMR_WAL_SERVICE}/AWSServiceRoleForEMRWAL*]",
                "HBase creates EMR WAL's service-linked role on first use; AWS's statement for it "
                "(ManagementGuide using-service-linked-roles-wal) names the role with a trailing wildcard, "
                "conditioned here on iam:AWSServiceName emrwal.amazonaws.com.",
            )
