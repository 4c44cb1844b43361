"""Where the all-in-one image comes from: built by cdk deploy, or an ECR tag pushed by hand."""

from __future__ import annotations

from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from stacks.config import REPO_ROOT, PlatformConfig

PINPOINT_IMAGE_DIR = REPO_ROOT / "images" / "pinpoint"

PLATFORMS = {
    "ARM64": ecr_assets.Platform.LINUX_ARM64,
    "X86_64": ecr_assets.Platform.LINUX_AMD64,
}


def pinpoint_container_image(scope: Construct, config: PlatformConfig) -> ecs.ContainerImage:
    """``image_source=asset``: a docker asset for the task's architecture (needs QEMU on x86
    hosts for arm64); ``image_source=ecr``: ``image_repository:image_tag`` as pushed by
    ``make push-image``."""
    if config.image_source == "ecr":
        assert config.image_tag is not None  # guaranteed by the schema
        repository = ecr.Repository.from_repository_name(scope, "PinpointRepository", config.image_repository)
        return ecs.ContainerImage.from_ecr_repository(repository, config.image_tag)
    return ecs.ContainerImage.from_asset(
        str(PINPOINT_IMAGE_DIR),
        platform=PLATFORMS[config.cpu_architecture],
        # The release the image downloads is the one the agent distribution installs (a 3.1 agent
        # needs a 3.1 collector); image_build_args (mirrors, checksums) come on top.
        build_args={"PINPOINT_VERSION": config.pinpoint_version, **config.image_build_args},
        exclude=["README.md", "tests", "**/__pycache__"],
    )
