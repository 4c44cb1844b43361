"""app.py and cdk.json: what every `cdk synth` runs with."""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path

import aws_cdk
import pytest

import app
from stacks.config import REPO_ROOT
from tests.unit.conftest import CHOSEN_SUBNETS, ISOLATED_CONFIG_DIR, SUBNETS, synthesized

# The library's own flag list and its recommendations for new projects (what `cdk init` writes),
# read from the aws-cdk-lib package jsii loads.
CDK_LIB_TARBALL = next((Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz"))
# Recommended flags deliberately not adopted, and why.
NOT_ADOPTED = {
    # Turns aws-cdk-lib's template checks into errors. With vpc_id, the CLI's first synth sees the
    # lookup's dummy VPC ("vpc-12345", subnets "p-12345"), which fails those checks before the CLI
    # can look the VPC up; the real templates pass them (test_cfn_lint.py runs cfn-lint anyway).
    "@aws-cdk/core:validateAgainstDefaultRules": False,
}


def _library_flags() -> tuple[set[str], dict[str, object]]:
    wanted = {"package/cx-api/lib/features.js", "package/recommended-feature-flags.json"}
    found: dict[str, str] = {}
    with tarfile.open(CDK_LIB_TARBALL) as tar:
        for member in tar:
            if member.name in wanted:
                found[member.name] = tar.extractfile(member).read().decode()  # type: ignore[union-attr]
                if len(found) == len(wanted):
                    break
    known = set(re.findall(r'"(@aws-cdk[a-z-]*/[^"]+:[^"]+)"', found["package/cx-api/lib/features.js"]))
    return known, json.loads(found["package/recommended-feature-flags.json"])


def test_cdk_json_sets_only_flags_the_library_knows_and_its_recommendations() -> None:
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    known, recommended = _library_flags()
    assert recommended, "no recommended flags found in aws-cdk-lib"
    assert sorted(set(context) - known - set(recommended)) == []
    for flag, value in recommended.items():
        expected = NOT_ADOPTED.get(flag, value)
        assert context.get(flag) == expected, f"{flag}: {context.get(flag)!r}, recommended {value!r}"


def test_warnings_carry_no_stack_trace_for_the_cli_to_print() -> None:
    """The CLI prints a warning's first non-library stack frame as its location; in a Python app
    that is jsii's kernel bundle (the stray /tmp/tmpXXXX/lib/program.js:1:5591 line)."""
    warnings = [entry for _, entry in synthesized().entries("aws:cdk:warning")]
    assert warnings, "expected the agent_sha512 warning"
    assert [entry.get("trace") for entry in warnings] == [None] * len(warnings)


def test_a_settings_conflict_found_while_building_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    context = {**CHOSEN_SUBNETS, "private_subnet_ids": [SUBNETS["private-a1"], SUBNETS["private-a2"]]}
    with pytest.raises(SystemExit) as exit_info:
        app.main(context, config_dir=ISOLATED_CONFIG_DIR)
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("Invalid setting private_subnet_ids=[")
    assert "its subnets are all in eu-west-1a" in line
