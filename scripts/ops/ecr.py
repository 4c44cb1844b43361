"""ECR: repository reconciliation and registry credentials from ``GetAuthorizationToken``."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import botocore.exceptions

from scripts.ops.aws import BotoClient, aws_error
from scripts.ops.errors import ScriptError

# Tags are immutable so a deployed tag always means the same bytes; ``latest`` is the one
# exception, because ``--latest`` exists to move it (IMMUTABLE_WITH_EXCLUSION, ECR 2025-07).
ECR_TAG_MUTABILITY = "IMMUTABLE_WITH_EXCLUSION"
ECR_MUTABLE_TAGS = ("latest",)
ECR_ENCRYPTION = {"encryptionType": "AES256"}


def ecr_lifecycle_policy(keep_images: int) -> dict[str, Any]:
    """A lifecycle policy that expires all but the newest ``keep_images`` images (any tag state)."""
    if keep_images < 1:
        raise ValueError(f"keep_images must be at least 1, got {keep_images}")
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"Keep only the last {keep_images} images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": keep_images,
                },
                "action": {"type": "expire"},
            }
        ]
    }


def _mutability_exclusions() -> list[dict[str, str]]:
    return [{"filterType": "WILDCARD", "filter": tag} for tag in ECR_MUTABLE_TAGS]


@dataclass(frozen=True)
class EcrRepository:
    name: str
    uri: str
    registry_id: str
    changes: tuple[str, ...]  # what was (or, in a dry run, would be) created or changed


def ensure_ecr_repository(
    ecr: BotoClient, name: str, *, keep_images: int, apply: bool = True
) -> EcrRepository:
    """Create ``name`` or bring its settings in line; with ``apply=False`` only report the plan.

    Reconciles scan on push, tag immutability (except ``latest``) and the lifecycle policy.
    Encryption can only be chosen at creation: an existing repository keeps its own (any ECR
    repository is encrypted at rest), which is reported rather than treated as an error.
    """
    changes: list[str] = []
    policy = ecr_lifecycle_policy(keep_images)
    try:
        try:
            repository = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        except ecr.exceptions.RepositoryNotFoundException:
            changes.append(
                f"create repository {name} (scan on push, immutable tags except "
                f"{', '.join(ECR_MUTABLE_TAGS)}, {ECR_ENCRYPTION['encryptionType']} encryption)"
            )
            changes.append(f"lifecycle policy: keep the last {keep_images} images")
            if not apply:
                return EcrRepository(name=name, uri="", registry_id="", changes=tuple(changes))
            repository = ecr.create_repository(
                repositoryName=name,
                imageScanningConfiguration={"scanOnPush": True},
                imageTagMutability=ECR_TAG_MUTABILITY,
                imageTagMutabilityExclusionFilters=_mutability_exclusions(),
                encryptionConfiguration=ECR_ENCRYPTION,
            )["repository"]
            ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=json.dumps(policy))
            return EcrRepository(
                name=name,
                uri=repository["repositoryUri"],
                registry_id=repository["registryId"],
                changes=tuple(changes),
            )

        if not repository.get("imageScanningConfiguration", {}).get("scanOnPush"):
            changes.append("turn on scan on push")
            if apply:
                ecr.put_image_scanning_configuration(
                    repositoryName=name, imageScanningConfiguration={"scanOnPush": True}
                )
        exclusions = repository.get("imageTagMutabilityExclusionFilters") or []
        if (
            repository.get("imageTagMutability") != ECR_TAG_MUTABILITY
            or exclusions != _mutability_exclusions()
        ):
            changes.append(f"make tags immutable except {', '.join(ECR_MUTABLE_TAGS)}")
            if apply:
                ecr.put_image_tag_mutability(
                    repositoryName=name,
                    imageTagMutability=ECR_TAG_MUTABILITY,
                    imageTagMutabilityExclusionFilters=_mutability_exclusions(),
                )
        try:
            current = json.loads(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])
        except ecr.exceptions.LifecyclePolicyNotFoundException:
            current = None
        if current != policy:
            changes.append(f"lifecycle policy: keep the last {keep_images} images")
            if apply:
                ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=json.dumps(policy))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        raise ScriptError(f"ECR repository {name}: {aws_error(error)}") from error
    return EcrRepository(
        name=name,
        uri=repository["repositoryUri"],
        registry_id=repository["registryId"],
        changes=tuple(changes),
    )


def ecr_tag_exists(ecr: BotoClient, repository: str, tag: str) -> bool:
    """True when ``repository:tag`` is already in ECR (an immutable tag cannot be pushed again)."""
    try:
        ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except (ecr.exceptions.ImageNotFoundException, ecr.exceptions.RepositoryNotFoundException):
        return False
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        raise ScriptError(f"ECR repository {repository}: {aws_error(error)}") from error
    return True


@dataclass(frozen=True)
class RegistryAuth:
    """Credentials for one registry endpoint (``host[:port]``, no scheme)."""

    registry: str
    username: str
    password: str = field(repr=False)

    def auth_config(self) -> dict[str, str]:
        """The ``auth_config`` mapping the docker SDK sends to the engine for push/pull."""
        return {"username": self.username, "password": self.password, "serveraddress": self.registry}


def ecr_registry_auth(ecr: BotoClient, *, registry: str | None = None) -> RegistryAuth:
    """Registry credentials from ``ecr:GetAuthorizationToken`` (valid 12 hours).

    The token decodes to ``user:password``; its ``proxyEndpoint`` names the registry to push
    to unless ``registry`` overrides it (a pull-through proxy, or a local registry in tests).
    """
    try:
        data = ecr.get_authorization_token()["authorizationData"][0]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        raise ScriptError(f"cannot get an ECR authorization token: {aws_error(error)}") from error
    username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    endpoint = registry or urlparse(data["proxyEndpoint"]).netloc
    return RegistryAuth(registry=endpoint, username=username, password=password)
