"""`make deploy`'s preflight and the CDK bootstrap (scripts/ops/preflight.py), in process: the AWS
side is botocore's Stubber (SSM GetParameter as the API reference shapes it), downloads a
loopback host. tests/integration/test_preflight.py runs the script against moto and the real
pinned `cdk bootstrap`; these hold the same promises in the unit tier."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.ops import preflight
from scripts.ops.aws import AwsCheck, AwsIdentity
from scripts.ops.bootstrap import BOOTSTRAP_VERSION_PARAMETER
from scripts.ops.output import Reporter
from stacks.config import parse_settings
from tests.unit.release_stub import ReleaseStub, release_stub
from tests.unit.stubbed_aws import ACCOUNT, REGION, StubbedSession

IDENTITY = AwsIdentity(account=ACCOUNT, arn=f"arn:aws:iam::{ACCOUNT}:user/deployer", region=REGION)
# A pushed image: the deploy builds nothing, so the only download is the agent (pinned below).
PUSHED_IMAGE = ["-c", "image_source=ecr", "-c", "image_tag=v1"]
PARAMETER = {"Name": BOOTSTRAP_VERSION_PARAMETER}


@pytest.fixture(scope="module")
def release() -> Iterator[ReleaseStub]:
    with release_stub() as stub:
        yield stub


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> StubbedSession:
    """Credentials AWS accepted for IDENTITY; every later call goes to the stubbed session."""
    session = StubbedSession(REGION)
    monkeypatch.setattr(
        preflight,
        "check_aws",
        lambda **_: AwsCheck(session=session, identity=IDENTITY),  # type: ignore[arg-type]
    )
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    return session


@pytest.fixture
def bootstraps(monkeypatch: pytest.MonkeyPatch) -> list[AwsIdentity]:
    """Where `cdk bootstrap` would have run (the real CLI run is the integration tier's)."""
    ran: list[AwsIdentity] = []
    monkeypatch.setattr(preflight, "run_cdk_bootstrap", lambda identity, *_a, **_k: ran.append(identity))
    return ran


def deploy_request(tmp_path: Path, release: ReleaseStub, **settings: Any) -> preflight.Request:
    """A settings file with the agent pinned to what the host serves, plus ``settings``."""
    base = {"agent_download_base_url": f"{release.base_url}/github"}
    version = parse_settings({}).pinpoint_version
    agent = f"{release.base_url}/github/v{version}/pinpoint-agent-{version}.tar.gz"
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "default.json").write_text(
        json.dumps({**base, "agent_sha512": release.sha512(agent), **settings})
    )
    return preflight.Request(
        action="deploy", cdk_args=PUSHED_IMAGE, config_dir=config_dir, cdk=tmp_path / "no-cdk-cli"
    )


def not_bootstrapped(session: StubbedSession) -> None:
    session.stub("ssm").add_client_error(
        "get_parameter",
        service_error_code="ParameterNotFound",
        service_message="",
        http_status_code=400,
        expected_params=PARAMETER,
    )


def quiet() -> Reporter:
    return Reporter(stream=io.StringIO(), interactive=False)


def test_deploy_refuses_to_bootstrap_when_auto_bootstrap_is_off(
    tmp_path: Path,
    release: ReleaseStub,
    aws: StubbedSession,
    bootstraps: list[AwsIdentity],
    capsys: pytest.CaptureFixture[str],
) -> None:
    request = deploy_request(tmp_path, release, auto_bootstrap=False)
    not_bootstrapped(aws)

    with aws.answering():
        code = preflight.run(request, quiet(), prog="preflight")

    assert code == 1
    assert bootstraps == []
    errors = capsys.readouterr().err.splitlines()
    assert errors == [
        f"preflight: error: account {ACCOUNT} in {REGION} is not bootstrapped for the CDK and "
        f"auto_bootstrap=false: run `make bootstrap` once (cdk bootstrap aws://{ACCOUNT}/{REGION})"
    ]


def test_deploy_bootstraps_when_auto_bootstrap_is_on(
    tmp_path: Path,
    release: ReleaseStub,
    aws: StubbedSession,
    bootstraps: list[AwsIdentity],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The control of the test above: the same account is bootstrapped when the setting allows."""
    request = deploy_request(tmp_path, release)
    not_bootstrapped(aws)
    aws.stub("ssm").add_response(  # read again after `cdk bootstrap`
        "get_parameter",
        {"Parameter": {"Name": BOOTSTRAP_VERSION_PARAMETER, "Type": "String", "Value": "30", "Version": 1}},
        expected_params=PARAMETER,
    )

    with aws.answering():
        code = preflight.run(request, quiet(), prog="preflight")

    assert code == 0, capsys.readouterr().err
    assert bootstraps == [IDENTITY]
    assert f"preflight: aws://{ACCOUNT}/{REGION} bootstrapped (version 30)" in capsys.readouterr().out
