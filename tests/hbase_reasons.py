"""What the table tool reports when it cannot reach an HBase, as one line (images/pinpoint/hbase/
tables: Quorum#problem, PinpointTables#reason). The real-HBase tests
(tests/integration/test_pinpoint_roles.py) and the unit tier's stand-in
(tests/unit/supervisor/test_roles.py) assert the same text, so the stand-in cannot drift from
what the real client says."""

from __future__ import annotations


def quorum_refused(quorum: str) -> str:
    """Every entry of the quorum refused the TCP connection."""
    why = "; ".join(f"{entry}: Connection refused" for entry in quorum.split(","))
    return f"ZooKeeper quorum {quorum} unreachable ({why})"


def quorum_unresolved(quorum: str) -> str:
    """Every entry of the quorum names a host that does not resolve."""
    why = "; ".join(f"{entry.rpartition(':')[0]} does not resolve" for entry in quorum.split(","))
    return f"ZooKeeper quorum {quorum} unreachable ({why})"


def wrong_parent_znode(parent: str) -> str:
    """ZooKeeper answers, but no master registered under this parent znode."""
    return (
        f"org.apache.zookeeper.KeeperException$NoNodeException: KeeperErrorCode = NoNode for {parent}/master"
    )
