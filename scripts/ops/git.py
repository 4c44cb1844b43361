"""Image tags derived from git."""

from __future__ import annotations

import subprocess
from pathlib import Path

from scripts.ops.errors import EXIT_USAGE, ScriptError, one_line


def git_revision_tag(repo_dir: Path) -> str:
    """``<short sha>`` of HEAD, or ``<short sha>-dirty`` when the work tree differs from it.

    Untracked (not ignored) files count as dirty: they may be part of the build context, and
    a tag must never claim to be a commit whose contents it does not hold.
    """

    def git(*args: str) -> str:
        try:
            result = subprocess.run(
                ["git", "-C", str(repo_dir), *args], capture_output=True, text=True, check=True, timeout=30
            )
        except FileNotFoundError as error:
            raise ScriptError(
                "git is not installed: pass --tag to name the image", exit_code=EXIT_USAGE
            ) from error
        except subprocess.CalledProcessError as error:
            raise ScriptError(
                f"cannot derive the image tag from git in {repo_dir}: {one_line(error.stderr)} (pass --tag)",
                exit_code=EXIT_USAGE,
            ) from error
        return result.stdout

    sha = git("rev-parse", "--short", "HEAD").strip()
    dirty = bool(git("status", "--porcelain").strip())
    return f"{sha}-dirty" if dirty else sha
