#!/usr/bin/env python3
"""Print (or --write) which properties make CloudFormation replace the resources an EMR cluster
depends on: stacks/constructs/replacing_properties.json, generated, never edited by hand.

Two sources, both pinned by this repository, and the union of what they say:

* cfn-lint's bundled CloudFormation registry schemas (requirements-dev.txt): ``createOnlyProperties``
  of each type. For ``AWS::EMR::Cluster`` they list top-level properties only and leave out
  ``Instances`` entirely, although an instance type change replaces the cluster.
* the CDK CLI's service database (package.json's aws-cdk, ``node_modules/aws-cdk/db.json.gz``, what
  ``cdk diff`` uses to say "requires replacement"): ``causesReplacement`` for every property,
  nested property types included, taken from the CloudFormation template reference's "Update
  requires: Replacement" (e.g. ``AWS::EMR::Cluster InstanceGroupConfig``: ``InstanceType``
  Replacement, ``InstanceCount`` No interruption).

The output is one tree per resource type: ``true`` where a change of the value (anything below it)
replaces the resource, a nested object where only some nested properties do, and ``"*"`` for the
items of a list. ``maybe`` counts as a replacement: a needless new HBase root is recoverable, two
clusters writing one root is not. A unit test fails when the file drifts from the sources.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
OUTPUT = REPO_ROOT / "stacks" / "constructs" / "replacing_properties.json"
CDK_DATABASE = REPO_ROOT / "node_modules" / "aws-cdk" / "db.json.gz"
SCHEMA_REGION = "us-east-1"
# The cluster and every type its replacing properties reach through Ref/Fn::GetAtt in the synthesized
# template (tests/unit/test_emr_replacement.py fails when one is missing).
RESOURCE_TYPES = (
    "AWS::EMR::Cluster",
    "AWS::EMR::SecurityConfiguration",
    "AWS::EC2::SecurityGroup",
    "AWS::EC2::Subnet",
    "AWS::EC2::VPC",
    "AWS::IAM::InstanceProfile",
    "AWS::IAM::Role",
    "AWS::KMS::Key",
    "AWS::S3::Bucket",
)
REPLACES = frozenset({"yes", "maybe"})

Tree = bool | dict[str, Any]


def create_only(type_name: str) -> set[str]:
    """Top-level createOnlyProperties of cfn-lint's schema for ``type_name``."""
    from cfnlint.schema.manager import PROVIDER_SCHEMA_MANAGER  # noqa: PLC0415 (dev dependency)

    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(SCHEMA_REGION, type_name).schema
    paths = schema.get("createOnlyProperties", [])
    names = {path.removeprefix("/properties/") for path in paths}
    nested = [name for name in names if "/" in name]
    if nested:  # none today; a nested path would need the tree below, not a top-level name
        raise SystemExit(f"{type_name}: nested createOnlyProperties {nested} are not handled")
    return names


class CdkDatabase:
    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise SystemExit(f"{path} is missing: run make setup (the pinned CDK CLI ships it)")
        schema = json.loads(gzip.decompress(path.read_bytes()))["schema"]
        self.resources = {
            r["cloudFormationType"]: r for r in schema["resource"]["entities"] if "cloudFormationType" in r
        }
        self.types = {t["$id"]: t for t in schema["typeDefinition"]["entities"]}

    def nested(self, prop_type: dict[str, Any]) -> tuple[str | None, bool]:
        """The nested type id of a property (and whether it is a list of them), else None."""
        if prop_type.get("type") == "ref":
            return prop_type["reference"]["$ref"], False
        if prop_type.get("type") == "array" and prop_type["element"].get("type") == "ref":
            return prop_type["element"]["reference"]["$ref"], True
        return None, False

    def tree(self, properties: dict[str, Any], forced: set[str], seen: tuple[str, ...]) -> dict[str, Tree]:
        """The replacing part of ``properties``: nested types are looked into (their own flags decide),
        plain values replace when flagged (or ``forced``: createOnly)."""
        out: dict[str, Tree] = {}
        for name, spec in sorted(properties.items()):
            replaces = spec.get("causesReplacement") in REPLACES or name in forced
            type_id, is_list = self.nested(spec["type"])
            if type_id is None or type_id in seen:  # a plain value, or a type nested in itself
                if replaces:
                    out[name] = True
                continue
            inner = self.tree(self.types[type_id]["properties"], set(), (*seen, type_id))
            if not inner:
                if replaces:
                    out[name] = True
                continue
            out[name] = {"*": inner} if is_list else inner
        return out

    def resource_tree(self, type_name: str) -> dict[str, Tree]:
        forced = create_only(type_name)
        tree = self.tree(self.resources[type_name]["properties"], forced, ())
        uncovered = forced - set(tree)
        if uncovered:
            raise SystemExit(f"{type_name}: createOnlyProperties {sorted(uncovered)} missing from the tree")
        return tree


def replacing_properties(database: Path = CDK_DATABASE) -> dict[str, dict[str, Tree]]:
    db = CdkDatabase(database)
    return {type_name: db.resource_tree(type_name) for type_name in RESOURCE_TYPES}


def render(data: dict[str, dict[str, Tree]]) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"rewrite {OUTPUT.relative_to(REPO_ROOT)}")
    args = parser.parse_args()
    text = render(replacing_properties())
    if args.write:
        OUTPUT.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
