"""The config schema: defaults reproduce the mission; bad values fail with one clear line each."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stacks.config import (
    FALLBACK_REGION,
    ConfigError,
    PlatformConfig,
    load_config,
    parse_settings,
    resolve_environment,
)

CERTIFICATE_ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"


def test_defaults_reproduce_the_mission() -> None:
    config = parse_settings({})
    assert config.cpu_architecture == "ARM64"
    assert config.ephemeral_storage_gib == 200
    assert config.health_check_grace_seconds == 300
    assert config.health_check_path == "/api-public/serverTime"
    assert config.collector_dns_name == "pinpoint"
    assert config.collector_ports == (9991, 9992, 9993)
    assert config.web_port == 8080
    assert config.stop_timeout_seconds == 120
    # Sized for HBase + collector + web in one task (the seed's small task died).
    assert (config.cpu, config.memory_mib) == (4096, 16384)


def test_cdk_json_holds_only_feature_flags_so_defaults_come_from_the_schema(tmp_path: Path) -> None:
    context = json.loads((Path(__file__).parents[2] / "cdk.json").read_text())["context"]
    assert all(key.startswith("@") for key in context), "settings belong in the schema or config/*.json"
    # tmp_path: a developer's config/default.json must not change what this sees.
    assert load_config(config_dir=tmp_path) == parse_settings({})


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"cpu": "1000"}, "Invalid setting cpu='1000': allowed: 256, 512, 1024, 2048, 4096, 8192, 16384"),
        (
            {"memory_mib": "9999"},
            "Invalid setting memory_mib=9999: allowed with cpu=4096: 8192-30720 in steps of 1024",
        ),
        ({"cpu": 256, "memory_mib": 4096}, "Invalid setting memory_mib=4096: allowed with cpu=256: 512-2048"),
        ({"sample_app_memory_mib": 100}, "Invalid setting sample_app_memory_mib=100: allowed with cpu=512"),
        ({"ephemeral_storage_gib": "300"}, "Invalid setting ephemeral_storage_gib='300': allowed: 21 to 200"),
        ({"ephemeral_storage_gib": 20}, "Invalid setting ephemeral_storage_gib=20: allowed: 21 to 200"),
        ({"web_port": 70000}, "Invalid setting web_port=70000: allowed: 1 to 65535"),
        ({"web_port": 9991}, "Invalid setting collector_agent_port=9991: it is already used by web_port"),
        (
            {"collector_span_port": 16010},
            "Invalid setting collector_span_port=16010: it is used inside the container",
        ),
        (
            {"web_allowed_cidrs": "0.0.0.0/0"},
            "Invalid setting web_allowed_cidrs='0.0.0.0/0': allowed: a CIDR narrower than /0",
        ),
        (
            {"collector_allowed_cidrs": ["10.0.0.1/16"]},
            "Invalid setting collector_allowed_cidrs=['10.0.0.1/16']: allowed: an IPv4 CIDR with host bits zero",
        ),
        (
            {"vpc_cidr": "10.0.0.0/8"},
            "Invalid setting vpc_cidr='10.0.0.0/8': allowed: a prefix length from /16 to /24",
        ),
        (
            {"vpc_id": "vpc-xyz"},
            "Invalid setting vpc_id='vpc-xyz': allowed: vpc- followed by 8 or 17 hex digits",
        ),
        (
            {"vpc_id": "vpc-0123456789abcdef0"},
            "Invalid setting vpc_id='vpc-0123456789abcdef0': looking up a VPC needs account and region",
        ),
        (
            {"web_allowed_security_group_ids": "sg-1"},
            "Invalid setting web_allowed_security_group_ids='sg-1': 'sg-1' is not a security group id",
        ),
        (
            {"name_prefix": "Pinpoint"},
            "Invalid setting name_prefix='Pinpoint': allowed: 1-20 lowercase letters",
        ),
        ({"name_prefix": "a" * 21}, "Invalid setting name_prefix='" + "a" * 21 + "': allowed: 1-20"),
        ({"stack_name": "1stack"}, "Invalid setting stack_name='1stack': allowed: 1-128 letters"),
        (
            {"collector_dns_name": "pin.point"},
            "Invalid setting collector_dns_name='pin.point': allowed: one lowercase DNS label",
        ),
        (
            {"namespace_name": "Bad_Name"},
            "Invalid setting namespace_name='Bad_Name': allowed: a lowercase DNS name",
        ),
        (
            {"health_check_path": "serverTime"},
            "Invalid setting health_check_path='serverTime': allowed: an absolute URL path",
        ),
        (
            {"health_check_grace_seconds": -1},
            "Invalid setting health_check_grace_seconds=-1: allowed: 0 to 7200",
        ),
        ({"log_retention_days": 31}, "Invalid setting log_retention_days=31: allowed: 1, 3, 5, 7, 14, 30"),
        ({"image_source": "s3"}, "Invalid setting image_source='s3': allowed: 'asset' or 'ecr'"),
        (
            {"image_source": "ecr"},
            "Invalid setting image_tag=None: allowed: an image tag such as the one make push-image printed",
        ),
        ({"image_tag": "latest"}, "Invalid setting image_tag='latest': allowed: an immutable tag"),
        ({"image_tag": "-bad"}, "Invalid setting image_tag='-bad': allowed: 1-128 chars"),
        (
            {"image_repository": "Bad_Repo"},
            "Invalid setting image_repository='Bad_Repo': allowed: 2-256 chars of lowercase",
        ),
        (
            {"certificate_arn": "arn:aws:iam::123:cert"},
            "Invalid setting certificate_arn='arn:aws:iam::123:cert': allowed: arn:aws:acm:",
        ),
        ({"cpu_architecture": "arm"}, "Invalid setting cpu_architecture='arm': allowed: 'ARM64' or 'X86_64'"),
        (
            {"sample_app_name": "x" * 25},
            "Invalid setting sample_app_name='" + "x" * 25 + "': allowed: 1-24 chars",
        ),
        ({"agent_sampling_percent": 0}, "Invalid setting agent_sampling_percent=0: allowed: greater than 0"),
        (
            {"agent_recorded_headers": "Bad Header"},
            "Invalid setting agent_recorded_headers='Bad Header': 'Bad Header' is not an HTTP header name",
        ),
        ({"nat_gateways": 3}, "Invalid setting nat_gateways=3: allowed: 1 to max_azs (2)"),
        (
            {"sample_app_enabled": "maybe"},
            "Invalid setting sample_app_enabled='maybe': allowed: true or false",
        ),
        (
            {"cpu_archtecture": "ARM64"},
            "Unknown setting cpu_archtecture='ARM64': did you mean cpu_architecture?",
        ),
        # Wrong case or hyphens: difflib alone finds nothing close for "CPU".
        ({"CPU": 2048}, "Unknown setting CPU=2048: did you mean cpu?"),
        ({"Memory-MiB": 8192}, "Unknown setting Memory-MiB=8192: did you mean memory_mib?"),
        # JSON true is not a number (pydantic's lax mode would read it as 1).
        ({"cpu": True}, "Invalid setting cpu=True: allowed: a number (JSON true/false is not one)"),
        (
            {"ephemeral_storage_gib": True},
            "Invalid setting ephemeral_storage_gib=True: allowed: a number (JSON true/false is not one), 21 to 200",
        ),
        ({"agent_sampling_percent": True}, "Invalid setting agent_sampling_percent=True: allowed: a number"),
        ({"web_port": 8443}, "Invalid setting web_port=8443: it is used inside the container"),
        ({"collector_agent_port": 16030}, "Invalid setting collector_agent_port=16030: it is used inside"),
        (
            {"boot_timeout_seconds": 300},
            "Invalid setting health_check_grace_seconds=300: allowed: at least boot_timeout_seconds (300) + 30 s",
        ),
        (
            {"agent_profile": "local"},
            "Invalid setting agent_profile='local': allowed: release; local records HTTP cookies and request "
            "bodies into traces (set agent_allow_local_profile=true to opt in)",
        ),
        (
            {"vpc_cidr": "10.0.0.0/24", "max_azs": 3},
            "Invalid setting vpc_cidr='10.0.0.0/24': too small for max_azs=3 (a /26 public and a /26 private "
            "subnet per AZ); allowed: /22 or larger, or fewer max_azs",
        ),
        (
            {"certificate_arn": CERTIFICATE_ARN.replace("eu-west-1", "us-east-1"), "region": "eu-west-1"},
            "Invalid setting certificate_arn='arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-"
            "abcd-ef0123456789': the certificate is in us-east-1, the stack in eu-west-1; allowed: an ACM "
            "certificate of the stack's region",
        ),
        (
            {"private_subnet_ids": "subnet-0123456789abcdef0"},
            "Invalid setting private_subnet_ids=['subnet-0123456789abcdef0']: allowed: only with vpc_id",
        ),
        (
            {"private_subnet_group_name": "apps"},
            "Invalid setting private_subnet_group_name='apps': allowed: only with vpc_id",
        ),
        (
            {"private_subnet_ids": "subnet-1"},
            "Invalid setting private_subnet_ids='subnet-1': 'subnet-1' is not a",
        ),
        (
            {"hbase_efs_file_system_id": "fs-0123456789abcdef0"},
            "Invalid setting hbase_efs_file_system_id='fs-0123456789abcdef0': allowed: only with hbase_storage=efs",
        ),
        (
            {"hbase_storage": "efs", "hbase_efs_file_system_id": "vol-1"},
            "Invalid setting hbase_efs_file_system_id='vol-1': allowed: an EFS file system id",
        ),
        ({"hbase_split_regions": 1}, "Invalid setting hbase_split_regions=1: allowed: 2 to 256"),
        # Every list of ids or servers: each item once (a repeated one would be a duplicate rule).
        (
            {"collector_allowed_security_group_ids": "sg-0123456789abcdef0,sg-0123456789abcdef0"},
            "Invalid setting collector_allowed_security_group_ids='sg-0123456789abcdef0,sg-0123456789abcdef0': "
            "allowed: each item once",
        ),
        (
            {"web_allowed_security_group_ids": ["sg-01234567", "sg-01234567"]},
            "Invalid setting web_allowed_security_group_ids=['sg-01234567', 'sg-01234567']: allowed: each item once",
        ),
        (
            {"hbase_mode": "external", "hbase_zookeeper_quorum": "zk1:2181,zk1:2181"},
            "Invalid setting hbase_zookeeper_quorum='zk1:2181,zk1:2181': allowed: each item once",
        ),
        (
            {"private_subnet_ids": "subnet-01234567,subnet-01234567"},
            "Invalid setting private_subnet_ids='subnet-01234567,subnet-01234567': allowed: each item once",
        ),
    ],
)
def test_bad_values_fail_with_one_line_naming_key_value_and_allowed(settings: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(settings)
    message = str(caught.value)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_very_long_values_are_cut_in_the_message() -> None:
    """A pasted file or a runaway list is named by its length, not echoed whole."""
    for raw, key in (
        ({"health_check_path": "/" + "a" * 5000}, "health_check_path"),
        ({"web_allowed_cidrs": ["10.0.0.0/8"] * 400 + ["bad"]}, "web_allowed_cidrs"),
        ({"x" * 3000: "y" * 3000}, "x" * 10),
    ):
        with pytest.raises(ConfigError) as caught:
            parse_settings(raw)
        message = str(caught.value)
        assert len(message) < 400, message
        assert key in message
        assert " chars)" in message
    with pytest.raises(ConfigError, match=r"\(5001 chars\)"):
        parse_settings({"health_check_path": "/" + "a" * 5000})


def test_numbers_still_come_from_strings_on_the_command_line() -> None:
    config = parse_settings({"boot_timeout_seconds": "600", "health_check_grace_seconds": "630"})
    assert (config.boot_timeout_seconds, config.health_check_grace_seconds) == (600, 630)
    assert parse_settings({"agent_sampling_percent": "12.5"}).agent_sampling_percent == 12.5


def test_every_new_vpc_size_the_schema_accepts_synthesizes_its_subnets() -> None:
    """subnets_fit mirrors aws-cdk-lib's allocator: what it accepts, CDK can lay out."""
    from aws_cdk import App, Environment, Stack  # noqa: PLC0415

    from stacks.constructs.network import Network  # noqa: PLC0415

    accepted = []
    for prefix in (22, 23, 24):
        for azs in (2, 3):
            try:
                config = parse_settings({"vpc_cidr": f"10.0.0.0/{prefix}", "max_azs": azs})
            except ConfigError:
                continue
            accepted.append((prefix, azs))
            stack = Stack(
                App(stack_traces=False), "S", env=Environment(account="123456789012", region="eu-west-1")
            )
            network = Network(stack, "Network", config=config)
            assert len(network.vpc.private_subnets) == azs
    assert accepted == [(22, 2), (22, 3), (23, 2), (24, 2)]


def test_region_falls_back_to_the_certificates_offline() -> None:
    config = parse_settings({"certificate_arn": CERTIFICATE_ARN})
    assert resolve_environment(config, {}).region == "eu-west-1"
    # A configured or CLI region wins, and then must match.
    with pytest.raises(ConfigError, match="the certificate is in eu-west-1, the stack in us-east-1"):
        resolve_environment(config, {"CDK_DEFAULT_REGION": "us-east-1"})


def test_build_args_accept_a_json_object_from_the_command_line() -> None:
    assert parse_settings({"image_build_args": '{"A_SHA512": "x"}'}).image_build_args == {"A_SHA512": "x"}
    with pytest.raises(
        ConfigError, match=r"^Invalid setting image_build_args='\{bad': allowed: a JSON object"
    ):
        parse_settings({"image_build_args": "{bad"})


def test_several_problems_give_one_line_each() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"cpu": 3, "ephemeral_storage_gib": 1})
    assert len(str(caught.value).splitlines()) == 2


def test_command_line_strings_are_coerced() -> None:
    config = parse_settings(
        {
            "cpu": "2048",
            "memory_mib": "8192",
            "sample_app_enabled": "true",
            "web_allowed_cidrs": "10.1.0.0/16, 192.168.0.0/24",
            "collector_allowed_cidrs": '["10.2.0.0/16"]',
        }
    )
    assert (config.cpu, config.memory_mib, config.sample_app_enabled) == (2048, 8192, True)
    assert config.web_allowed_cidrs == ["10.1.0.0/16", "192.168.0.0/24"]
    assert config.collector_allowed_cidrs == ["10.2.0.0/16"]


def test_environment_file_sits_between_defaults_and_context(tmp_path: Path) -> None:
    (tmp_path / "prod.json").write_text(
        json.dumps({"cpu": 8192, "memory_mib": 32768, "log_retention_days": 90})
    )
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps({"context": {"@aws-cdk/x": True, "log_retention_days": 365}}))
    config = load_config({"config": "prod"}, cdk_json=cdk_json, config_dir=tmp_path)
    assert (config.cpu, config.memory_mib) == (8192, 32768)
    assert config.log_retention_days == 365  # context beats the file


def test_missing_environment_file_names_the_choices(tmp_path: Path) -> None:
    (tmp_path / "dev.json").write_text("{}")
    with pytest.raises(
        ConfigError, match=r"Invalid setting config='prod': no prod.json in .* \(available: dev\)"
    ):
        load_config({"config": "prod"}, cdk_json=tmp_path / "none.json", config_dir=tmp_path)


def test_shipped_example_environment_file_is_valid() -> None:
    config = load_config({"config": "example"})
    assert isinstance(config, PlatformConfig)


def test_region_falls_back_for_offline_synth_and_cli_values_win() -> None:
    assert resolve_environment(parse_settings({}), {}).region == FALLBACK_REGION
    resolved = resolve_environment(
        parse_settings({}), {"CDK_DEFAULT_REGION": "eu-west-1", "CDK_DEFAULT_ACCOUNT": "123456789012"}
    )
    assert (resolved.region, resolved.account) == ("eu-west-1", "123456789012")
    explicit = resolve_environment(
        parse_settings({"region": "ap-northeast-2"}), {"CDK_DEFAULT_REGION": "eu-west-1"}
    )
    assert explicit.region == "ap-northeast-2"


def test_default_environment_file_is_optional_and_read_when_present(tmp_path: Path) -> None:
    cdk_json = tmp_path / "none.json"
    assert load_config({}, cdk_json=cdk_json, config_dir=tmp_path).agent_sha512 is None
    (tmp_path / "default.json").write_text(json.dumps({"agent_sha512": "ab" * 64}))
    assert load_config({}, cdk_json=cdk_json, config_dir=tmp_path).agent_sha512 == "ab" * 64
    # An explicit environment replaces the default file, it is not layered on it.
    (tmp_path / "prod.json").write_text("{}")
    assert load_config({"config": "prod"}, cdk_json=cdk_json, config_dir=tmp_path).agent_sha512 is None


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        (
            {"hbase_mode": "external"},
            "Invalid setting hbase_zookeeper_quorum=[]: allowed: the ZooKeeper servers of your HBase",
        ),
        (
            {"hbase_zookeeper_quorum": "zk1:2181"},
            "Invalid setting hbase_zookeeper_quorum=['zk1:2181']: allowed: only with hbase_mode=external",
        ),
        (
            {"hbase_mode": "external", "hbase_zookeeper_quorum": "zk1"},
            "Invalid setting hbase_zookeeper_quorum='zk1': 'zk1' is not host:port",
        ),
        (
            {"hbase_mode": "emr", "hbase_storage": "efs"},
            "Invalid setting hbase_storage='efs': allowed: ephemeral with hbase_mode=emr",
        ),
        (
            {"collector_min_count": 5, "collector_max_count": 3},
            "Invalid setting collector_max_count=3: allowed: at least collector_min_count (5)",
        ),
        ({"emr_core_instance_type": "m7i.xlarge"}, "allowed: a Graviton instance type"),
        ({"emr_release_label": "emr-5.36.0"}, "allowed: an Amazon EMR 6.x or 7.x release label"),
        (
            {"web_cpu": 1024, "web_memory_mib": 512},
            "Invalid setting web_memory_mib=512: allowed with cpu=1024",
        ),
        ({"alarm_email": "ops"}, "Invalid setting alarm_email='ops': allowed: an e-mail address"),
        (
            {"alarm_ephemeral_storage_percent": 0},
            "Invalid setting alarm_ephemeral_storage_percent=0: allowed: 1 to 100",
        ),
    ],
)
def test_topology_and_operations_settings_are_checked(settings: dict[str, object], line: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(settings)
    assert str(caught.value).startswith(line) or line in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1


def test_external_hbase_takes_a_quorum_of_host_port_pairs() -> None:
    config = parse_settings(
        {"hbase_mode": "external", "hbase_zookeeper_quorum": "zk1.corp.internal:2181, 10.0.0.5:2181"}
    )
    assert config.hbase_zookeeper_quorum == ["zk1.corp.internal:2181", "10.0.0.5:2181"]
    assert config.hbase_znode_parent == "/hbase"


# --- booleans: what JSON spells one, and its -c spelling ----------------------------------------

BOOLEAN_SETTINGS = sorted(
    name for name, field in PlatformConfig.model_fields.items() if field.annotation in (bool, bool | None)
)


def test_the_boolean_settings_are_the_ones_checked_here() -> None:
    """A new boolean setting joins the parametrized checks below by itself."""
    assert BOOLEAN_SETTINGS == [
        "agent_allow_local_profile",
        "auto_bootstrap",
        "emr_in_transit_encryption",
        "emr_wal",
        "sample_app_enabled",
        "strict_checksums",
    ]


@pytest.mark.parametrize("name", BOOLEAN_SETTINGS)
@pytest.mark.parametrize("value", ["yes", "no", "on", "1", "0", 1, 0, "True", "t", ""])
def test_a_boolean_setting_takes_json_true_or_false_only(name: str, value: object) -> None:
    """Pydantic's lax mode would read "yes", "on", "1" and 1 as true: a settings file saying
    "strict_checksums": "yes" must not turn a safety switch on (or off) by guesswork."""
    with pytest.raises(ConfigError) as caught:
        parse_settings({name: value})
    assert str(caught.value) == (
        f'Invalid setting {name}={value!r}: allowed: true or false (a JSON boolean, or "true"/"false" with -c)'
    )


@pytest.mark.parametrize("name", BOOLEAN_SETTINGS)
def test_a_boolean_setting_takes_json_booleans_and_their_command_line_strings(name: str) -> None:
    """`-c key=value` always arrives as a string: "true"/"false" are the booleans there."""
    # What EMR's in-transit encryption needs to be valid when on: the certificates.
    certificates = {"emr_tls_certificates_s3_uri": "s3://example-certs/emr/certs.zip"}
    for value, expected in ((True, True), ("true", True), (False, False), ("false", False)):
        needs = {"hbase_mode": "emr", **(certificates if expected else {})} if name.startswith("emr_") else {}
        assert getattr(parse_settings({**needs, name: value}), name) is expected, value


def test_a_boolean_from_a_settings_file_and_from_the_command_line(tmp_path: Path) -> None:
    cdk_json = tmp_path / "none.json"
    (tmp_path / "default.json").write_text('{"strict_checksums": "yes"}')
    with pytest.raises(ConfigError, match=r"^Invalid setting strict_checksums='yes': allowed: true or false"):
        load_config({}, cdk_json=cdk_json, config_dir=tmp_path)
    (tmp_path / "default.json").write_text('{"strict_checksums": true}')
    assert load_config({}, cdk_json=cdk_json, config_dir=tmp_path).strict_checksums is True
    assert (
        load_config({"strict_checksums": "false"}, cdk_json=cdk_json, config_dir=tmp_path).strict_checksums
        is False
    )


# --- hbase_ttl_days: refused at synth, never first at the container's start ----------------------


@pytest.mark.parametrize(
    ("value", "line"),
    [
        (3651, "Invalid setting hbase_ttl_days=3651: allowed: 1 to 3650"),
        ("3651", "Invalid setting hbase_ttl_days='3651': allowed: 1 to 3650"),  # -c hbase_ttl_days=3651
        (30000, "Invalid setting hbase_ttl_days=30000: allowed: 1 to 3650"),  # beyond HBase's int TTL too
        (0, "Invalid setting hbase_ttl_days=0: allowed: 1 to 3650"),
    ],
)
def test_hbase_ttl_days_out_of_bounds_is_one_line_at_synth(value: object, line: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"hbase_ttl_days": value})
    assert str(caught.value) == line


def test_every_hbase_ttl_the_schema_accepts_passes_the_images_own_check() -> None:
    """The image refuses TTLs above HBase's Java int at start (images/pinpoint/bin/lib/checks.sh,
    MAX_TTL_SECONDS): the schema's bound keeps every rendered TTL below it, so a bad value is
    refused by synth, never first by a task that then fails its boot."""
    from stacks.constructs.fargate import table_environment  # noqa: PLC0415 (imports aws_cdk)

    checks = (Path(__file__).parents[2] / "images" / "pinpoint" / "bin" / "lib" / "checks.sh").read_text()
    (image_limit,) = re.findall(r"^readonly MAX_TTL_SECONDS=(\d+)$", checks, re.M)
    (upper,) = [m.le for m in PlatformConfig.model_fields["hbase_ttl_days"].metadata if hasattr(m, "le")]
    environment = table_environment(parse_settings({"hbase_ttl_days": upper}))
    ttls = {name: int(value) for name, value in environment.items() if name.startswith("PINPOINT_TTL_")}
    assert ttls["PINPOINT_TTL_TRACE_SECONDS"] == upper * 86400
    assert max(ttls.values()) <= int(image_limit)
