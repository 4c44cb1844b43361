"""Every publisher of the alarm topic may publish to it (stacks/constructs/monitoring.py).

The topic is encrypted with its own key and its policy replaces SNS's default one, so a service
that publishes needs two grants: kms:GenerateDataKey* and kms:Decrypt in the key policy (SNS
developer guide, "Enable compatibility between event sources from AWS services and encrypted
topics") and sns:Publish in the topic policy. A publisher missing from either fails silently in
AWS: the alarm or rule fires and nothing arrives. This test walks every resource of every variant
that refers to the topic, names the service that publishes for it, and evaluates both policies
for that service's request (tests/unit/resource_policy.py). A new kind of publisher fails here
until the test says which service publishes for it -- and then until both policies allow it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.unit.conftest import ALL_VARIANTS, synth
from tests.unit.resource_policy import ACCOUNT, REGION, resolve, service_may


@dataclass(frozen=True)
class Publisher:
    resource: str
    service: str
    source_arn: str


# Resource types that refer to the topic and the service principal that then publishes, with the
# aws:SourceArn of its requests: an alarm's ARN (CloudWatch user guide, "Using Amazon CloudWatch
# alarms", alarm ARN arn:aws:cloudwatch:<region>:<account>:alarm:<name>) and a rule's ARN
# (EventBridge user guide, "Managing access permissions": arn:aws:events:<region>:<account>:rule/<name>).
PUBLISHING_TYPES: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "AWS::CloudWatch::Alarm": (
        "cloudwatch.amazonaws.com",
        lambda props: f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{props['AlarmName']}",
    ),
    "AWS::Events::Rule": (
        "events.amazonaws.com",
        lambda props: f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{props['Name']}",
    ),
}
# Resources that refer to the topic without publishing to it.
NOT_PUBLISHING = {"AWS::SNS::TopicPolicy", "AWS::SNS::Subscription"}


def refers_to(value: Any, logical_id: str) -> bool:
    if isinstance(value, dict):
        if value.get("Ref") == logical_id or (value.get("Fn::GetAtt") or [None])[0] == logical_id:
            return True
        return any(refers_to(item, logical_id) for item in value.values())
    if isinstance(value, list):
        return any(refers_to(item, logical_id) for item in value)
    return False


def publishers(resources: dict[str, dict[str, Any]], topic_id: str) -> Iterator[Publisher]:
    for logical_id, resource in resources.items():
        kind = resource["Type"]
        if kind in NOT_PUBLISHING or not refers_to(resource.get("Properties"), topic_id):
            continue
        assert kind in PUBLISHING_TYPES, (
            f"{logical_id} ({kind}) refers to the alarm topic: name the service that publishes for it in "
            "PUBLISHING_TYPES, and allow it in the topic's key policy and topic policy"
        )
        service, source_arn = PUBLISHING_TYPES[kind]
        props = resource["Properties"]
        assert ("AlarmName" if kind == "AWS::CloudWatch::Alarm" else "Name") in props, (
            f"{logical_id} has no name of its own: CloudFormation would generate one the topic policy "
            "(<name_prefix>-*) does not admit"
        )
        yield Publisher(logical_id, service, source_arn(props))


@pytest.fixture(scope="module", params=ALL_VARIANTS)
def deployed(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The variant's topic, its key policy and topic policy as deployed, and its publishers."""
    resources = synth(**ALL_VARIANTS[request.param]).to_json()["Resources"]
    (topic_id,) = [name for name, r in resources.items() if r["Type"] == "AWS::SNS::Topic"]
    topic = resources[topic_id]["Properties"]
    topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic['TopicName']}"
    key_id = topic["KmsMasterKeyId"]["Fn::GetAtt"][0]
    (topic_policy,) = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::SNS::TopicPolicy" and r["Properties"]["Topics"] == [{"Ref": topic_id}]
    ]
    values = {topic_id: topic_arn}
    return {
        "topic_arn": topic_arn,
        "key_arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
        "key_policy": resolve(resources[key_id]["Properties"]["KeyPolicy"], values),
        "topic_policy": resolve(topic_policy["PolicyDocument"], values),
        "publishers": list(publishers(resources, topic_id)),
    }


def request(publisher: Publisher, **overrides: str) -> dict[str, str]:
    """The condition keys of a publisher's request over TLS from this account."""
    return {
        "aws:SourceArn": publisher.source_arn,
        "aws:SourceAccount": ACCOUNT,
        "aws:SecureTransport": "true",
        **overrides,
    }


def test_every_publisher_may_use_the_key_and_publish_to_the_topic(deployed: dict[str, Any]) -> None:
    found = deployed["publishers"]
    services = {p.service for p in found}
    assert "cloudwatch.amazonaws.com" in services  # every variant has alarms
    for publisher in found:
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            assert service_may(
                deployed["key_policy"],
                service=publisher.service,
                action=action,
                resource=deployed["key_arn"],
                context=request(publisher),
            ), f"the key policy does not let {publisher.service} ({publisher.resource}) call {action}"
        assert service_may(
            deployed["topic_policy"],
            service=publisher.service,
            action="sns:Publish",
            resource=deployed["topic_arn"],
            context=request(publisher),
        ), f"the topic policy does not let {publisher.service} ({publisher.resource}) publish"


def test_the_topic_admits_no_other_accounts_resources_and_no_plain_http(deployed: dict[str, Any]) -> None:
    """The grants are not vacuous: the same services publishing for another account's resources, for
    this account's resources of another name, or without TLS are refused."""
    for publisher in deployed["publishers"]:
        separator = "/" if ":rule/" in publisher.source_arn else ":"
        head, _, name = publisher.source_arn.rpartition(separator)
        refused = (
            request(publisher, **{"aws:SourceAccount": "210987654321"}),
            request(publisher, **{"aws:SourceArn": publisher.source_arn.replace(ACCOUNT, "210987654321")}),
            request(publisher, **{"aws:SourceArn": f"{head}{separator}someone-else-{name}"}),
            request(publisher, **{"aws:SecureTransport": "false"}),
        )
        for context in refused:
            assert not service_may(
                deployed["topic_policy"],
                service=publisher.service,
                action="sns:Publish",
                resource=deployed["topic_arn"],
                context=context,
            ), (publisher, context)
