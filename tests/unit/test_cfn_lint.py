"""cfn-lint over every synthesized variant of the template: zero errors."""

from __future__ import annotations

import pytest
from cfnlint.api import lint_file

from tests.unit.conftest import ALL_VARIANTS, synthesized


# One variant per test: xdist spreads them over its workers. cfn-lint runs in the worker itself
# (its API takes the same arguments as the CLI, config files included), so each worker loads the
# rules and resource schemas once instead of a new interpreter per variant.
@pytest.mark.parametrize("name", ALL_VARIANTS)
def test_cfn_lint_reports_no_errors(name: str) -> None:
    path = synthesized(**ALL_VARIANTS[name]).template_path
    findings = lint_file(path)  # a crash raises: it cannot pass for a template it did not read
    errors = [
        f"{f.filename}:{f.linenumber}: {f.rule.id} {f.message}"
        for f in findings
        if f.rule.severity == "error"
    ]
    assert not errors, "\n".join(errors)
