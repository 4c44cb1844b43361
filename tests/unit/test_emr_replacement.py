"""What replaces the EMR cluster, derived from CloudFormation's schemas, and the fingerprint that
names its HBase root directory (stacks/constructs/replacement.py, replacing_properties.json).

The fingerprint is checked on the synthesized ``emr`` template: every replacing property of the
cluster, changed, gives another root; a property CloudFormation updates in place does not; a
resource the cluster references counts through its own replacing properties.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_cdk.assertions import Template

from scripts.replacing_properties import OUTPUT, create_only, render, replacing_properties
from stacks.constructs.emr_hbase import generation
from stacks.constructs.replacement import REPLACING, UnknownResourceType, fingerprint, identity
from tests.unit.conftest import EMR, synth
from tests.unit.template_queries import only_with_id


@pytest.fixture(scope="module")
def emr() -> Template:
    return synth(**EMR)


@pytest.fixture
def resources(emr: Template) -> dict[str, Any]:
    return copy.deepcopy(emr.to_json()["Resources"])


def cluster_id(emr: Template) -> str:
    return only_with_id(emr, "AWS::EMR::Cluster")[0]


def test_the_data_file_is_what_the_schemas_say() -> None:
    assert OUTPUT.read_text() == render(replacing_properties()), (
        "run: python scripts/replacing_properties.py --write"
    )


def test_the_cluster_tree_covers_create_only_properties_and_the_nested_instance_groups() -> None:
    """cfn-lint's schema alone would miss an instance type change: it lists no Instances property."""
    tree = REPLACING["AWS::EMR::Cluster"]
    assert create_only("AWS::EMR::Cluster") <= set(tree)
    assert "Instances" not in create_only("AWS::EMR::Cluster")
    for group in ("MasterInstanceGroup", "CoreInstanceGroup"):
        assert tree["Instances"][group]["InstanceType"] is True
        assert tree["Instances"][group]["Market"] is True
        assert "InstanceCount" not in tree["Instances"][group]  # "No interruption"
    assert "TerminationProtected" not in tree["Instances"]  # updated in place
    assert tree["Instances"]["Ec2SubnetId"] is True
    assert "Tags" not in tree


def reached_types(resources: dict[str, Any], value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if value.get("Type") and value.get("LogicalId"):
            yield value["Type"]
        for item in value.values():
            yield from reached_types(resources, item)
    elif isinstance(value, list):
        for item in value:
            yield from reached_types(resources, item)


def test_every_type_the_cluster_reaches_is_described(emr: Template, resources: dict[str, Any]) -> None:
    """A Ref to a type the data file lacks raises instead of being ignored."""
    reached = set(reached_types(resources, identity(resources, cluster_id(emr))))
    assert reached == {
        "AWS::EMR::Cluster",
        "AWS::EMR::SecurityConfiguration",
        "AWS::EC2::SecurityGroup",
        "AWS::EC2::Subnet",
        "AWS::EC2::VPC",
        "AWS::IAM::InstanceProfile",
        "AWS::IAM::Role",
        "AWS::KMS::Key",
        "AWS::S3::Bucket",
    }
    resources["Other"] = {"Type": "AWS::SNS::Topic", "Properties": {}}
    resources[cluster_id(emr)]["Properties"]["Name"] = {"Ref": "Other"}
    with pytest.raises(
        UnknownResourceType, match=r"Other \(AWS::SNS::Topic\) is not in replacing_properties\.json"
    ):
        fingerprint(resources, cluster_id(emr))


def replacing_leaves(value: Any, tree: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths of the values in ``value`` that the tree marks as replacing."""
    if tree is True:
        yield path
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from replacing_leaves(item, tree["*"], (*path, index))
    elif isinstance(value, dict):
        for key, sub in tree.items():
            if key in value:
                yield from replacing_leaves(value[key], sub, (*path, key))


def changed(resources: dict[str, Any], logical_id: str, path: tuple[Any, ...]) -> dict[str, Any]:
    out = copy.deepcopy(resources)
    target = out[logical_id]["Properties"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = {"changed": json.dumps(target[path[-1]], sort_keys=True)}
    return out


def test_every_replacing_property_of_the_cluster_moves_the_root(
    emr: Template, resources: dict[str, Any]
) -> None:
    cid = cluster_id(emr)
    base = generation(resources, cid)
    leaves = list(replacing_leaves(resources[cid]["Properties"], REPLACING["AWS::EMR::Cluster"]))
    assert ("Instances", "CoreInstanceGroup", "InstanceType") in leaves
    assert ("Configurations",) in leaves
    for path in leaves:
        if path == ("Configurations",):
            continue  # holds the root itself: below
        assert generation(changed(resources, cid, path), cid) != base, path
    # A configuration change other than the root is a new cluster; the root itself is not counted.
    hbase = changed(resources, cid, ("Configurations", 0, "ConfigurationProperties", "hbase.emr.wal.enabled"))
    assert generation(hbase, cid) != base
    root = changed(resources, cid, ("Configurations", 1, "ConfigurationProperties", "hbase.rootdir"))
    assert generation(root, cid) == base


def test_what_updates_in_place_keeps_the_root(emr: Template, resources: dict[str, Any]) -> None:
    cid = cluster_id(emr)
    base = generation(resources, cid)
    for path in (
        ("Instances", "CoreInstanceGroup", "InstanceCount"),
        ("Instances", "TerminationProtected"),
        ("Tags",),
        ("VisibleToAllUsers",),
    ):
        assert generation(changed(resources, cid, path), cid) == base, path


def test_a_replaced_resource_the_cluster_references_moves_the_root(
    emr: Template, resources: dict[str, Any]
) -> None:
    cid = cluster_id(emr)
    base = generation(resources, cid)
    (configuration,) = emr.find_resources("AWS::EMR::SecurityConfiguration")
    (service_group,) = [
        n
        for n, g in emr.find_resources("AWS::EC2::SecurityGroup").items()
        if g["Properties"]["GroupDescription"].startswith("EMR-managed: service access")
    ]
    (node_role,) = [n for n in emr.find_resources("AWS::IAM::Role") if n.startswith("EmrHBaseInstanceRole")]
    replaced = {
        configuration: ("SecurityConfiguration",),  # create-only content (certificates, key)
        service_group: ("GroupDescription",),
    }
    for logical_id, path in replaced.items():
        assert generation(changed(resources, logical_id, path), cid) != base, logical_id
    # The node role through the instance profile's name: a new RoleName is a new profile.
    with_path = copy.deepcopy(resources)
    with_path[node_role]["Properties"]["Path"] = "/emr/"
    assert generation(with_path, cid) != base
    # In place: a group's rules, a role's trust policy.
    in_place = copy.deepcopy(resources)
    in_place[service_group]["Properties"]["SecurityGroupEgress"] = []
    in_place[node_role]["Properties"]["AssumeRolePolicyDocument"] = {}
    assert generation(in_place, cid) == base
    # And a new logical id is a new resource.
    renamed = copy.deepcopy(resources)
    renamed["OtherCluster"] = renamed.pop(cid)
    assert generation(renamed, "OtherCluster") != base
