"""cfn-lint over every synthesized variant of the template: zero errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.conftest import (
    CHOSEN_SUBNETS,
    CUSTOMIZED,
    EMR,
    EXISTING_VPC,
    EXTERNAL,
    HTTPS_FROM_ECR,
    OPERATIONS,
    SAMPLE_APP,
    synth,
)

VARIANTS = {
    "default": {},
    "customized-hbase-on-efs-nlb": CUSTOMIZED,
    "https-ecr-image": HTTPS_FROM_ECR,
    "sample-app": SAMPLE_APP,
    "existing-vpc-retained-hbase": EXISTING_VPC,
    "chosen-subnets": CHOSEN_SUBNETS,
    "operations": OPERATIONS,
    "emr-hbase-nlb": EMR,
    "external-hbase-sample-app": EXTERNAL,
}


# One variant per test: xdist spreads the cfn-lint runs over its workers.
@pytest.mark.parametrize("name", VARIANTS)
def test_cfn_lint_reports_no_errors(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.template.json"
    path.write_text(json.dumps(synth(**VARIANTS[name]).to_json()))
    paths = [str(path)]
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), "--format", "json", *paths],
        capture_output=True,
        text=True,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    errors = [f"{f['Filename']}: {f['Rule']['Id']} {f['Message']}" for f in findings if f["Level"] == "Error"]
    assert not errors, "\n".join(errors)
    # Exit code bit 2 means errors; anything but errors/warnings/informational is a crash.
    assert result.returncode & ~(2 | 4 | 8) == 0, result.stderr
