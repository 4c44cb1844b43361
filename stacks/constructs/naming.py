"""Construct ids from resource names: ``hbase-cluster-down`` -> ``HbaseClusterDown``."""

from __future__ import annotations

import re


def pascal_case(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part)
