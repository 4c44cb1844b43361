"""The config schema: defaults reproduce the mission; bad values fail with one clear line each."""

from __future__ import annotations

import json
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


def test_defaults_reproduce_the_mission() -> None:
    config = parse_settings({})
    assert config.cpu_architecture == "ARM64"
    assert config.ephemeral_storage_gib == 200
    assert config.health_check_grace_seconds == 300
    assert config.health_check_path == "/serverTime"
    assert config.collector_dns_name == "pinpoint"
    assert config.collector_ports == (9991, 9992, 9993)
    assert config.web_port == 8080
    assert config.stop_timeout_seconds == 120
    # Sized for HBase + collector + web in one task (the seed's small task died).
    assert (config.cpu, config.memory_mib) == (4096, 16384)


def test_cdk_json_holds_only_feature_flags_so_defaults_come_from_the_schema() -> None:
    context = json.loads((Path(__file__).parents[2] / "cdk.json").read_text())["context"]
    assert all(key.startswith("@") for key in context), "settings belong in the schema or config/*.json"
    assert load_config() == parse_settings({})


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
    ],
)
def test_bad_values_fail_with_one_line_naming_key_value_and_allowed(settings: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(settings)
    message = str(caught.value)
    assert message.startswith(expected), message
    assert "\n" not in message


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
