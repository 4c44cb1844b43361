"""EFS access in a synthesized template: the file system policy, and what identity policies grant."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Template

from tests.unit.template_queries import as_list

EFS_WRITE_ACTIONS = {"elasticfilesystem:ClientWrite", "elasticfilesystem:ClientRootAccess"}


def file_system_id(template: Template, prefix: str) -> str:
    (name,) = [n for n in template.find_resources("AWS::EFS::FileSystem") if n.startswith(prefix)]
    return name


def identity_grants(template: Template, file_system: str) -> dict[str, set[str]]:
    """EFS client actions granted on ``file_system`` by identity policies, by role (prefix)."""
    grants: dict[str, set[str]] = {}
    resources = template.to_json()["Resources"]
    for policy in resources.values():
        if policy["Type"] not in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            continue
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        roles = [r["Ref"] for r in policy["Properties"].get("Roles", [])]
        if policy["Type"] == "AWS::IAM::ManagedPolicy":
            roles = [
                name
                for name, role in resources.items()
                if role["Type"] == "AWS::IAM::Role"
                and policy_ref(resources, policy) in role["Properties"].get("ManagedPolicyArns", [])
            ] or ["<unattached managed policy>"]
        for statement in statements:
            resource = json.dumps(statement["Resource"])
            condition = json.dumps(statement.get("Condition", {}))
            # On this file system, or on any one ("*") unless pinned to another's access point.
            on_any = resource == '"*"' and (
                "elasticfilesystem:AccessPointArn" not in condition
                or access_point(template, file_system) in condition
            )
            if statement["Effect"] != "Allow" or (file_system not in resource and not on_any):
                continue
            if not any(a.startswith("elasticfilesystem:Client") for a in as_list(statement["Action"])):
                continue
            for role in roles:
                grants.setdefault(role, set()).update(as_list(statement["Action"]))
    return grants


def access_point(template: Template, file_system: str) -> str:
    """The logical id of the access point on ``file_system`` (a logical id or a literal fs- id)."""
    (name,) = [
        n
        for n, r in template.find_resources("AWS::EFS::AccessPoint").items()
        if file_system in json.dumps(r["Properties"]["FileSystemId"])
    ] or [f"<no access point on {file_system}>"]
    return name


def policy_ref(resources: dict[str, Any], policy: dict[str, Any]) -> dict[str, str]:
    (name,) = [n for n, r in resources.items() if r is policy]
    return {"Ref": name}


def file_system_policy(template: Template, file_system: str) -> list[dict[str, Any]]:
    properties = template.to_json()["Resources"][file_system]["Properties"]
    return properties["FileSystemPolicy"]["Statement"]
