"""CDK arguments and settings files as the scripts read them (scripts/ops/settings.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts.ops.errors import EXIT_USAGE, ScriptError
from scripts.ops.settings import (
    cdk_profile,
    config_with_file,
    context_overrides,
    read_environment,
    read_settings_file,
    settings_path,
)


def test_context_and_profile_come_from_cdk_args() -> None:
    args = ["-c", "config=prod", "--profile", "ops", "--context=a=b", "--require-approval", "never"]
    assert context_overrides(args) == {"config": "prod", "a": "b"}
    assert cdk_profile(args) == "ops"
    assert cdk_profile(["--profile=dev"]) == "dev"
    assert cdk_profile(["-c", "x=y"]) is None
    with pytest.raises(ScriptError, match="expected -c key=value") as error:
        context_overrides(["-c", "novalue"])
    assert error.value.exit_code == EXIT_USAGE


def test_the_settings_file_is_default_json_unless_config_is_given(tmp_path: Path) -> None:
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text("{}")
    assert settings_path({}, tmp_path, cdk_json) == tmp_path / "default.json"
    assert settings_path({"config": "prod"}, tmp_path, cdk_json) == tmp_path / "prod.json"
    cdk_json.write_text(json.dumps({"context": {"config": "staging"}}))
    assert settings_path({}, tmp_path, cdk_json) == tmp_path / "staging.json"


def test_a_missing_file_reads_as_empty_and_a_bad_one_is_a_usage_error(tmp_path: Path) -> None:
    assert read_settings_file(tmp_path / "default.json") == {}
    (tmp_path / "default.json").write_text("[1]")
    with pytest.raises(ScriptError, match="must hold a JSON object") as error:
        read_settings_file(tmp_path / "default.json")
    assert error.value.exit_code == EXIT_USAGE


def test_a_new_file_is_read_as_the_deploy_will_read_it(tmp_path: Path) -> None:
    """A new config/staging.json: defaults and cdk.json context, not config/default.json's values."""
    (tmp_path / "default.json").write_text(json.dumps({"log_retention_days": 90}))
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps({"context": {"cpu": 8192, "memory_mib": 16384}}))
    raw, config = read_environment("staging", tmp_path, cdk_json)
    assert raw == {}
    assert (config.log_retention_days, config.cpu) == (30, 8192)


def test_context_wins_over_the_file_as_in_the_cdk_app(tmp_path: Path) -> None:
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text("{}")
    config = config_with_file(
        "prod",
        {"image_build_args": {"A": "file"}, "cpu": 2048, "memory_mib": 4096},
        {"image_build_args": '{"B": "cli"}'},
        cdk_json,
    )
    assert config.image_build_args == {"B": "cli"}  # replaced as a whole, not merged
    assert config.cpu == 2048
