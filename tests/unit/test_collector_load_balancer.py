"""The collector NLB for agents outside Service Connect, in the synthesized template."""

from __future__ import annotations

from aws_cdk.assertions import Template

from tests.unit.conftest import (
    CUSTOMIZED,
    synth,
)
from tests.unit.template_queries import (
    ingress_of,
    logical_id,
    only,
    security_groups,
)

# --- collector NLB (agents outside Service Connect) ----------------------------------------------


def test_no_collector_nlb_without_outside_sources(template: Template) -> None:
    assert not template.find_resources(
        "AWS::ElasticLoadBalancingV2::LoadBalancer", {"Properties": {"Type": "network"}}
    )
    assert "CollectorNlbDnsName" not in template.find_outputs("*")


def test_outside_sources_get_an_internal_nlb_on_the_collector_ports() -> None:
    template = synth(**CUSTOMIZED)
    nlb_id = logical_id(template, "AWS::ElasticLoadBalancingV2::LoadBalancer", {"Type": "network"})
    nlb = template.to_json()["Resources"][nlb_id]["Properties"]
    assert nlb["Scheme"] == "internal"
    alb = only(template, "AWS::ElasticLoadBalancingV2::LoadBalancer", {"Type": "application"})
    assert nlb["Subnets"] == alb["Properties"]["Subnets"]  # the private subnets, one per AZ
    assert {"Key": "load_balancing.cross_zone.enabled", "Value": "true"} in nlb["LoadBalancerAttributes"]
    listeners = [
        r["Properties"]
        for r in template.find_resources("AWS::ElasticLoadBalancingV2::Listener").values()
        if r["Properties"]["LoadBalancerArn"] == {"Ref": nlb_id}
    ]
    assert sorted((lst["Port"], lst["Protocol"]) for lst in listeners) == [
        (19991, "TCP"),
        (19992, "TCP"),
        (19993, "TCP"),
    ]
    # Each listener forwards to an IP target group on the same container port of the task.
    groups = template.to_json()["Resources"]
    service = only(template, "AWS::ECS::Service", {"ServiceName": "pinpoint-all-in-one"})
    registered = {
        (lb["ContainerPort"], lb["TargetGroupArn"]["Ref"]) for lb in service["Properties"]["LoadBalancers"]
    }
    for listener in listeners:
        (action,) = listener["DefaultActions"]
        group_id = action["TargetGroupArn"]["Ref"]
        group = groups[group_id]["Properties"]
        assert (group["TargetType"], group["Protocol"], group["Port"]) == ("ip", "TCP", listener["Port"])
        assert (listener["Port"], group_id) in registered
    template.has_output("CollectorNlbDnsName", {"Value": {"Fn::GetAtt": [nlb_id, "DNSName"]}})


def test_nlb_admits_only_the_configured_sources_and_the_task_admits_the_nlb() -> None:
    template = synth(**CUSTOMIZED)
    ingress = ingress_of(template, "Pinpoint collector NLB")
    assert sorted(
        (r.get("CidrIp") or r["SourceSecurityGroupId"], r["FromPort"], r["ToPort"]) for r in ingress
    ) == [
        ("10.50.0.0/16", 19991, 19991),
        ("10.50.0.0/16", 19992, 19992),
        ("10.50.0.0/16", 19993, 19993),
        ("sg-0123456789abcdef0", 19991, 19991),
        ("sg-0123456789abcdef0", 19992, 19992),
        ("sg-0123456789abcdef0", 19993, 19993),
    ]
    nlb_group = next(
        k
        for k, v in security_groups(template).items()
        if v["Properties"]["GroupDescription"].startswith("Pinpoint collector NLB")
    )
    task_ingress = ingress_of(template, "Pinpoint all-in-one task")
    # The configured sources reach the task only through the NLB, which reaches the three ports.
    assert not [r for r in task_ingress if r.get("CidrIp") or isinstance(r["SourceSecurityGroupId"], str)]
    assert {
        r["FromPort"]
        for r in task_ingress
        if r["SourceSecurityGroupId"] == {"Fn::GetAtt": [nlb_group, "GroupId"]}
    } == {19991, 19992, 19993}
