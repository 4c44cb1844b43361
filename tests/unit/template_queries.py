"""Lookups in a synthesized template that assert what they assume (exactly one match)."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Template

from tests.unit.conftest import SUBNETS


def only_with_id(
    template: Template, resource_type: str, props: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """(logical id, resource) of the one resource of ``resource_type`` matching ``props``."""
    found = template.find_resources(resource_type, {"Properties": props} if props else None)
    assert len(found) == 1, (
        f"expected one {resource_type}{f' matching {props}' if props else ''}, found {list(found)}"
    )
    return next(iter(found.items()))


def only(template: Template, resource_type: str, props: dict[str, Any] | None = None) -> dict[str, Any]:
    """The one resource of ``resource_type`` matching ``props``."""
    return only_with_id(template, resource_type, props)[1]


def logical_id(template: Template, resource_type: str, props: dict[str, Any]) -> str:
    """The logical id of the one resource of ``resource_type`` matching ``props``."""
    return only_with_id(template, resource_type, props)[0]


def pinpoint_task(template: Template) -> dict[str, Any]:
    (task,) = [
        t for n, t in template.find_resources("AWS::ECS::TaskDefinition").items() if n.startswith("Pinpoint")
    ]
    return task


def container(template: Template) -> dict[str, Any]:
    (definition,) = pinpoint_task(template)["Properties"]["ContainerDefinitions"]
    return definition


def azs(subnet_ids: list[str]) -> list[str]:
    zone_of = {
        SUBNETS["private-a1"]: "a",
        SUBNETS["private-a2"]: "a",
        SUBNETS["private-b"]: "b",
        SUBNETS["isolated-a"]: "a",
        SUBNETS["isolated-c"]: "c",
    }
    return sorted(zone_of[subnet] for subnet in subnet_ids)


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def security_groups(template: Template) -> dict[str, dict[str, Any]]:
    return template.find_resources("AWS::EC2::SecurityGroup")


def ingress_of(template: Template, description_prefix: str) -> list[dict[str, Any]]:
    groups = security_groups(template)
    (group_id,) = [
        k for k, v in groups.items() if v["Properties"]["GroupDescription"].startswith(description_prefix)
    ]
    inline = groups[group_id]["Properties"].get("SecurityGroupIngress", [])
    separate = [
        r["Properties"]
        for r in template.find_resources("AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    ]
    return inline + separate
