"""cfn-lint over every synthesized variant of the template: zero errors."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import pytest

from tests.unit.conftest import ALL_VARIANTS, synthesized

if TYPE_CHECKING:
    from cfnlint.rules import Rules


@cache
def _rules() -> Rules:
    """cfn-lint's rules as its CLI loads them, once per worker: a CLI run over several templates
    shares one set too (loading them anew costs 0.7 s a template). Imported here, not at the top:
    0.8 s that only the workers that lint need."""
    from cfnlint.config import ConfigMixIn  # noqa: PLC0415
    from cfnlint.runner import Runner  # noqa: PLC0415

    return Runner(ConfigMixIn([])).rules


# One variant per test: xdist spreads them over its workers.
@pytest.mark.parametrize("name", ALL_VARIANTS)
def test_cfn_lint_reports_no_errors(name: str) -> None:
    from cfnlint.config import ConfigMixIn  # noqa: PLC0415
    from cfnlint.runner import run_template_by_file_path  # noqa: PLC0415

    path = str(synthesized(**ALL_VARIANTS[name]).template_path)
    # What `cfn-lint <path>` runs: its arguments parsed by the CLI's parser, config files included.
    # A template it cannot read is an error (E0000); a crash in a rule is one too (E0002).
    findings = run_template_by_file_path(path, ConfigMixIn([path]), _rules(), ignore_bad_template=False)
    errors = [
        f"{f.filename}:{f.linenumber}: {f.rule.id} {f.message}"
        for f in findings
        if f.rule.severity == "error"
    ]
    assert not errors, "\n".join(errors)
