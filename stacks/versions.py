"""Pinned versions shared by the stack and the scripts, importable without aws_cdk (no Node).

The Pinpoint image pins its own versions as Dockerfile ARG defaults (images/pinpoint/Dockerfile);
tests/unit/test_agent_distribution.py fails when the agent here and the collector there differ,
because a 3.1 agent needs a 3.1 collector.
"""

AGENT_VERSION = "3.1.1"


def agent_tarball(version: str = AGENT_VERSION) -> str:
    return f"pinpoint-agent-{version}.tar.gz"
