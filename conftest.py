"""Repository-wide pytest setup: the pinned Node (node_modules/.bin) runs jsii, not the system's."""

import os
from pathlib import Path

_NODE_BIN = Path(__file__).parent / "node_modules" / ".bin"
if _NODE_BIN.is_dir():
    os.environ["PATH"] = f"{_NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
