"""cdk-nag on every template variant: zero unacknowledged findings, every acknowledgement with a reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Environment, Stack, Validations
from aws_cdk import aws_ec2 as ec2

from stacks.config import REPO_ROOT
from stacks.nag import enable_nag
from tests.unit.conftest import (
    ALL_VARIANTS,
    SUBNETS,
    VPC_ID,
    synthesized,
)

# --- cdk-nag -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_VARIANTS)
def test_cdk_nag_ran_on_the_variant_and_found_nothing_unacknowledged(name: str) -> None:
    """Synthesis already failed on any unacknowledged finding; this proves cdk-nag was wired
    into the synth (create_app) and ran on the whole variant."""
    reports = {
        r["pluginName"]: r for r in synthesized(**ALL_VARIANTS[name]).validation_report()["pluginReports"]
    }
    assert reports["AwsSolutions"]["conclusion"] == "success"
    assert reports["AwsSolutions"]["violations"] == []


def test_every_acknowledged_finding_carries_a_specific_reason() -> None:
    reasons: dict[str, str] = {}
    for overrides in ALL_VARIANTS.values():
        for path, entry in synthesized(**overrides).entries(Validations.ACKNOWLEDGED_RULES_METADATA_KEY):
            reasons.update(
                {f"{path}:{rule}": r for rule, r in entry["data"].items() if rule.startswith("AwsSolutions")}
            )
    assert reasons, "expected acknowledged cdk-nag findings to inspect"
    for rule, reason in reasons.items():
        assert len(reason) >= 40, f"{rule}: reason too thin: {reason!r}"


def _nagged_app(tmp_path: Path, *, open_to_the_world: bool) -> App:
    """A one-security-group stack with cdk-nag wired exactly as create_app wires it."""
    app = App(context=json.loads((REPO_ROOT / "cdk.json").read_text())["context"], outdir=str(tmp_path))
    stack = Stack(app, "Nagged", env=Environment(account="123456789012", region="eu-west-1"))
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id=VPC_ID,
        availability_zones=["eu-west-1a"],
        private_subnet_ids=[SUBNETS["private-a1"]],
        private_subnet_route_table_ids=["rtb-private-a1"],
    )
    group = ec2.SecurityGroup(stack, "Open", vpc=vpc, description="Opened by the test")
    if open_to_the_world:
        group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(22))
    enable_nag(app)
    return app


def test_cdk_nag_fails_synth_on_an_unacknowledged_finding(tmp_path: Path) -> None:
    """Proves the nag check can fail: an open security group is caught at synth (on a stack of
    its own, so the open rule is the only finding; the same stack without it synthesizes)."""
    _nagged_app(tmp_path / "closed", open_to_the_world=False).synth()
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        _nagged_app(tmp_path / "open", open_to_the_world=True).synth()
    report = json.loads((tmp_path / "open" / "validation-report.json").read_text())
    findings = {
        (violation["ruleName"], construct["constructPath"])
        for plugin in report["pluginReports"]
        if plugin["conclusion"] == "failure"
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
    }
    assert findings == {("AwsSolutions-EC23", "Nagged/Open/Resource")}
