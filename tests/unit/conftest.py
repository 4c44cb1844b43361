"""Synthesis helpers for construct tests: real ``cdk synth`` output via aws_cdk.assertions.

Synthesis costs seconds (jsii), so each distinct set of overrides is synthesized once per
session and shared by every test that asks for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from stacks.config import REPO_ROOT, config_from_app_context, resolve_environment
from stacks.nag import enable_nag
from stacks.pinpoint_stack import PinpointStack

TEST_ENV = {"CDK_DEFAULT_ACCOUNT": "123456789012", "CDK_DEFAULT_REGION": "eu-west-1"}

# Named override sets: every test that needs a non-default setting picks one, so the unit tier
# synthesizes five apps in all (about 5 s each), not one per test.
CERTIFICATE_ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
CUSTOMIZED = {
    "log_retention_days": 90,
    "health_check_path": "/api-public/serverTime",
    "health_check_grace_seconds": 600,
    "web_port": 18080,
    "collector_agent_port": 19991,
    "collector_stat_port": 19992,
    "collector_span_port": 19993,
    "collector_allowed_cidrs": "10.50.0.0/16",
    "collector_allowed_security_group_ids": "sg-0123456789abcdef0",
    "hbase_storage": "efs",
}
HTTPS_FROM_ECR = {
    "certificate_arn": CERTIFICATE_ARN,
    "web_allowed_cidrs": "10.9.0.0/16",
    "image_source": "ecr",
    "image_repository": "team/pinpoint",
    "image_tag": "abc1234",
}
SAMPLE_APP = {"sample_app_enabled": True, "agent_sha512": "ab" * 64}
EXISTING_VPC = {"vpc_id": "vpc-0123456789abcdef0", "account": "123456789012", "region": "eu-west-1"}


@cache
def _synth(frozen_overrides: str) -> tuple[PinpointStack, Template]:
    overrides = json.loads(frozen_overrides)
    # cdk.json's feature flags apply, exactly as for `cdk synth`.
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    app = App(context={**context, **overrides})
    config = resolve_environment(config_from_app_context(app.node), TEST_ENV)
    stack = PinpointStack(app, "PinpointOnFargate", config=config)
    enable_nag(app)
    app.synth()  # raises if cdk-nag finds anything unacknowledged
    return stack, Template.from_stack(stack)


def synth(**overrides: Any) -> Template:
    """The template for the default config plus ``overrides`` (CDK context values)."""
    return _synth(json.dumps(overrides, sort_keys=True))[1]


def synth_stack(**overrides: Any) -> PinpointStack:
    return _synth(json.dumps(overrides, sort_keys=True))[0]


@pytest.fixture(scope="session")
def template() -> Template:
    return synth()


@pytest.fixture(scope="session")
def synthesize() -> Callable[..., Template]:
    return synth
