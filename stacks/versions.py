"""Pinned versions shared by the stack and the scripts, importable without aws_cdk (no Node).

PINPOINT_VERSION is the default of the ``pinpoint_version`` setting (stacks/config/schema.py): the
collector and web jars the image downloads and the agent the distributor installs. v3.1.0 is
the newest release tag of github.com/pinpoint-apm/pinpoint (tagged 2026-05-20); the 3.1.x branch
holds only 3.1.1-SNAPSHOT/alpha commits. images/pinpoint/Dockerfile carries the same default as
ARG PINPOINT_VERSION; a unit test fails when they differ.
"""

PINPOINT_VERSION = "3.1.0"


def agent_tarball(version: str = PINPOINT_VERSION) -> str:
    return f"pinpoint-agent-{version}.tar.gz"
