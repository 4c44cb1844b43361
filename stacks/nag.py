"""cdk-nag (v3 API): the AwsSolutions pack on the whole app, and the one helper acknowledgements go through.

Acknowledgements live in the construct that owns the resource (stacks/constructs/*.py); each
names the construct it applies to and says why the finding is accepted.
Unacknowledged findings fail ``cdk synth`` (and therefore ``make test``).
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def enable_nag(app: App) -> None:
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))
