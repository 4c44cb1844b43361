"""Two small tools for reading a synthesized template as deployed: :func:`resolve` gives CloudFormation
intrinsics (Ref, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split) the values a deployment would have,
and :func:`service_may` evaluates a resource-based policy for a request by an AWS service principal.

The evaluation follows the IAM policy evaluation logic for one resource policy (IAM User Guide,
"Policy evaluation logic"): an explicit Deny that applies wins, otherwise an Allow that applies
grants; a statement applies when its Principal, Action (wildcards), Resource (wildcards) and every
Condition operator (all keys must match; a key matches if any value does) match the request. Only
the operators this project's policies use are known (StringEquals, StringLike, ArnEquals,
ArnLike, Bool); an unknown one fails the test instead of being guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

ACCOUNT, REGION, PARTITION = "123456789012", "eu-west-1", "aws"
PSEUDO_PARAMETERS = {
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::Partition": PARTITION,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "PinpointOnFargate",
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/PinpointOnFargate/"
    "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
}


def resolve(value: Any, values: Mapping[str, Any]) -> Any:
    """``value`` with every intrinsic replaced: ``values`` maps ``<logical id>`` (Ref) and
    ``<logical id>.<attribute>`` (Fn::GetAtt) to what the deployment would answer."""
    if isinstance(value, list):
        return [resolve(item, values) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            if argument in PSEUDO_PARAMETERS:
                return PSEUDO_PARAMETERS[argument]
            return _known(values, argument)
        if function == "Fn::GetAtt":
            return _known(values, ".".join(argument))
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(resolve(part, values)) for part in parts)
        if function == "Fn::Select":
            index, items = argument
            return resolve(items, values)[int(index)]
        if function == "Fn::Split":
            separator, text = argument
            return str(resolve(text, values)).split(separator)
        if function.startswith("Fn::"):
            raise AssertionError(f"no value for {function} in this test: {value}")
    return {key: resolve(item, values) for key, item in value.items()}


def _known(values: Mapping[str, Any], name: str) -> Any:
    if name not in values:
        raise AssertionError(f"the test gives no deployed value for {name}")
    return values[name]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_matches(principal: Any, service: str) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any(p in ("*", service) for p in _as_list(principal.get("Service", [])))
    return False


def _condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, str]) -> bool:
    actual = next((value for name, value in context.items() if name.lower() == key.lower()), None)
    if actual is None:
        return False  # a key the request does not carry never matches a positive operator
    candidates = [str(v) for v in _as_list(expected)]
    if operator in ("StringEquals", "ArnEquals"):
        return actual in candidates
    if operator in ("StringLike", "ArnLike"):
        return any(fnmatchcase(actual, pattern) for pattern in candidates)
    if operator == "Bool":
        return actual.lower() in (c.lower() for c in candidates)
    raise AssertionError(f"condition operator {operator} is not known to this evaluation")


def _applies(
    statement: Mapping[str, Any], service: str, action: str, resource: str, context: Mapping[str, str]
) -> bool:
    if not _principal_matches(statement.get("Principal"), service):
        return False
    if not any(fnmatchcase(action.lower(), a.lower()) for a in _as_list(statement.get("Action", []))):
        return False
    if not any(fnmatchcase(resource, r) for r in _as_list(statement.get("Resource", "*"))):
        return False
    return all(
        _condition_holds(operator, key, expected, context)
        for operator, pairs in (statement.get("Condition") or {}).items()
        for key, expected in pairs.items()
    )


def service_may(
    policy: Mapping[str, Any], *, service: str, action: str, resource: str, context: Mapping[str, str]
) -> bool:
    """Whether ``policy`` (resolved) lets ``service`` perform ``action`` on ``resource`` for a
    request carrying the condition keys in ``context``."""
    statements = _as_list(policy.get("Statement", []))
    if any(s.get("Effect") == "Deny" and _applies(s, service, action, resource, context) for s in statements):
        return False
    return any(
        s.get("Effect") == "Allow" and _applies(s, service, action, resource, context) for s in statements
    )
