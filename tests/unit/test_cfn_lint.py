"""cfn-lint over every synthesized variant of the template: zero errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.unit.conftest import synth

VARIANTS = {
    "default": {},
    "https-ecr-image": {
        "certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789",
        "image_source": "ecr",
        "image_tag": "abc1234",
    },
    # The same override set as tests/unit/test_sample_app_service.py: synthesized once per session.
    "sample-app": {"sample_app_enabled": True, "agent_sha512": "ab" * 64},
    "hbase-on-efs": {"hbase_storage": "efs"},
}


def test_cfn_lint_reports_no_errors(tmp_path: Path) -> None:
    paths = []
    for name, overrides in VARIANTS.items():
        path = tmp_path / f"{name}.template.json"
        path.write_text(json.dumps(synth(**overrides).to_json()))
        paths.append(str(path))
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
