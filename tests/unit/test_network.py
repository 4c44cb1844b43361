"""Subnet choice in an imported VPC, construct by construct (no full stack: fast).

The lookup answer is conftest's cached one: two private subnets in eu-west-1a, one in eu-west-1b,
an isolated group "endpoints-only" in 1a and 1c, public subnets in 1a and 1b.
"""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Environment, Stack

from stacks.config import ConfigError, parse_settings
from stacks.constructs.network import Network
from tests.unit.conftest import SUBNETS, VPC_ID, VPC_LOOKUP

BASE = {"vpc_id": VPC_ID, "account": "123456789012", "region": "eu-west-1"}


def network(**settings: Any) -> Network:
    app = App(context=VPC_LOOKUP, stack_traces=False)
    stack = Stack(app, "S", env=Environment(account="123456789012", region="eu-west-1"))
    return Network(stack, "Network", config=parse_settings({**BASE, **settings}))


def selected(net: Network, one_per_az: bool = False) -> list[str]:
    selection = net.one_per_az if one_per_az else net.private_subnets
    return sorted(
        net.vpc.select_subnets(
            subnets=selection.subnets,
            subnet_type=selection.subnet_type,
            subnet_group_name=selection.subnet_group_name,
            one_per_az=selection.one_per_az,
        ).subnet_ids
    )


def test_default_is_every_private_subnet_and_one_per_az_for_efs_and_load_balancers() -> None:
    net = network()
    assert selected(net) == sorted([SUBNETS["private-a1"], SUBNETS["private-a2"], SUBNETS["private-b"]])
    assert selected(net, one_per_az=True) == sorted([SUBNETS["private-a1"], SUBNETS["private-b"]])


def test_a_subnet_group_can_be_chosen() -> None:
    net = network(private_subnet_group_name="endpoints-only")
    assert selected(net) == sorted([SUBNETS["isolated-a"], SUBNETS["isolated-c"]])
    assert selected(net, one_per_az=True) == selected(net)


def test_subnet_ids_narrow_a_group() -> None:
    net = network(private_subnet_ids=[SUBNETS["private-a2"], SUBNETS["private-b"]])
    assert selected(net) == sorted([SUBNETS["private-a2"], SUBNETS["private-b"]])


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"private_subnet_ids": [SUBNETS["public-a"], SUBNETS["private-b"]]},
            f"Invalid setting private_subnet_ids=['{SUBNETS['public-a']}', '{SUBNETS['private-b']}']: "
            f"{SUBNETS['public-a']} is a public subnet of {VPC_ID}; allowed: ",
        ),
        (
            {"private_subnet_ids": ["subnet-0123456789abcdef0", SUBNETS["private-b"]]},
            f"Invalid setting private_subnet_ids=['subnet-0123456789abcdef0', '{SUBNETS['private-b']}']: "
            f"subnet-0123456789abcdef0 is not a private subnet of {VPC_ID}; allowed: ",
        ),
        (
            {"private_subnet_ids": [SUBNETS["private-a1"], SUBNETS["private-a2"]]},
            f"Invalid setting private_subnet_ids=['{SUBNETS['private-a1']}', '{SUBNETS['private-a2']}']: its "
            "subnets are all in eu-west-1a; allowed: subnets in at least 2 AZs (the ALB needs two)",
        ),
        (
            {"private_subnet_group_name": "apps"},
            "Invalid setting private_subnet_group_name='apps': vpc-0123456789abcdef0 has no such private group; "
            "allowed: Private, endpoints-only",
        ),
        (
            {"private_subnet_group_name": "endpoints-only", "private_subnet_ids": [SUBNETS["private-b"]]},
            f"Invalid setting private_subnet_ids=['{SUBNETS['private-b']}']: {SUBNETS['private-b']} is not a "
            "private subnet of group endpoints-only",
        ),
    ],
)
def test_a_bad_choice_is_one_line_naming_setting_value_and_choices(
    settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        network(**settings)
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)


def test_before_the_lookup_is_cached_nothing_is_checked() -> None:
    """The CLI's first pass sees aws-cdk-lib's dummy VPC; it looks the VPC up and runs again."""
    app = App(stack_traces=False)
    stack = Stack(app, "S", env=Environment(account="123456789012", region="eu-west-1"))
    net = Network(
        stack, "Network", config=parse_settings({**BASE, "private_subnet_ids": [SUBNETS["private-b"]]})
    )
    assert net.vpc.vpc_id == "vpc-12345"
