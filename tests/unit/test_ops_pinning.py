"""What the deploy downloads and where each SHA-512 goes (scripts/ops/pinning.py), from a
Dockerfile written to the images/pinpoint download contract; and `make pin-checksums` refusing a
download that disagrees with the checksum published next to it (a loopback host, no Docker)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts import pin_checksums
from scripts.ops.build import dockerfile_defaults, required_checksum_args
from scripts.ops.downloads import PUBLISHED_DIGESTS, Probe
from scripts.ops.errors import EXIT_USAGE, ScriptError
from scripts.ops.pinning import (
    DOCKERFILE_DOWNLOADS,
    Artifact,
    Pinned,
    artifacts,
    deploy_build_args,
    merged_settings,
    probe_problem,
    report_lines,
)
from stacks.config import REPO_ROOT, parse_settings
from stacks.versions import PINPOINT_VERSION
from tests.unit.release_stub import ReleaseStub, release_stub

IMAGE_DOCKERFILE = REPO_ROOT / "images" / "pinpoint" / "Dockerfile"

APACHE = "https://archive.apache.org/dist/hbase"
GITHUB = "https://github.com/pinpoint-apm/pinpoint/releases/download"
CONTRACT = f"""FROM scratch AS fetch
ARG PINPOINT_VERSION=3.0.0
ARG HBASE_VERSION=2.6.5
ARG PINPOINT_BASE_URL={GITHUB}
ARG HBASE_BASE_URL={APACHE}
ARG HBASE_SHA512=
ARG PINPOINT_COLLECTOR_SHA512=
ARG PINPOINT_WEB_SHA512=
FROM scratch
ARG HBASE_VERSION=1.0.0
"""


@pytest.fixture
def dockerfile(tmp_path: Path) -> Path:
    path = tmp_path / "Dockerfile"
    path.write_text(CONTRACT)
    return path


def urls(items: list[Artifact]) -> dict[str, str]:
    return {item.setting: item.url for item in items}


def test_urls_follow_pinpoint_version_and_the_dockerfile_defaults(dockerfile: Path) -> None:
    items = artifacts(parse_settings({"pinpoint_version": "3.1.0"}), dockerfile)
    assert urls(items) == {
        "HBASE_SHA512": f"{APACHE}/2.6.5/hbase-2.6.5-hadoop3-bin.tar.gz",  # the first ARG default wins
        "PINPOINT_COLLECTOR_SHA512": f"{GITHUB}/v3.1.0/pinpoint-collector-3.1.0-exec.jar",
        "PINPOINT_WEB_SHA512": f"{GITHUB}/v3.1.0/pinpoint-web-3.1.0-exec.jar",
        "agent_sha512": f"{GITHUB}/v3.1.0/pinpoint-agent-3.1.0.tar.gz",
    }
    assert [item.build_arg for item in items] == [True, True, True, False]
    assert all(item.pinned is None for item in items)
    assert items[1].version == "pinpoint_version=3.1.0"
    assert items[0].version == "HBASE_VERSION=2.6.5"


def test_pinpoint_version_and_build_args_choose_versions_and_mirrors_and_carry_pins(dockerfile: Path) -> None:
    config = parse_settings(
        {
            "pinpoint_version": "3.0.1",
            "image_build_args": {
                "HBASE_BASE_URL": "http://mirror/hbase/",
                "HBASE_SHA512": "ab" * 64,
            },
            "agent_download_base_url": "http://mirror/agent",
            "agent_sha512": "cd" * 64,
        }
    )
    items = {item.setting: item for item in artifacts(config, dockerfile)}
    assert items["PINPOINT_WEB_SHA512"].url == f"{GITHUB}/v3.0.1/pinpoint-web-3.0.1-exec.jar"
    assert items["PINPOINT_WEB_SHA512"].version == "pinpoint_version=3.0.1"
    assert items["HBASE_SHA512"].url == "http://mirror/hbase//2.6.5/hbase-2.6.5-hadoop3-bin.tar.gz"
    assert items["HBASE_SHA512"].pinned == "ab" * 64
    assert items["agent_sha512"].url == "http://mirror/agent/v3.0.1/pinpoint-agent-3.0.1.tar.gz"
    assert items["agent_sha512"].pinned == "cd" * 64


def test_the_image_fetches_exactly_the_urls_that_are_pinned() -> None:
    """The contract with images/pinpoint: each URL pinning computes is the one its fetch stages download."""
    dockerfile = IMAGE_DOCKERFILE.read_text()
    assert sorted(required_checksum_args(IMAGE_DOCKERFILE)) == sorted(DOCKERFILE_DOWNLOADS)
    for setting, template in DOCKERFILE_DOWNLOADS.items():
        assert f'"{template}"' in dockerfile, setting


def test_the_images_defaults_are_the_real_release_urls() -> None:
    """The exec jars are GitHub release assets (pinpoint-apm/pinpoint v3.1.0
    .github/workflows/upload-release-assets.yml), not on Maven Central (root pom.xml,
    profile maven.central.release: spring-boot.repackage.skip=true since v3.0.5)."""
    items = artifacts(parse_settings({}), IMAGE_DOCKERFILE)
    assert urls(items) == {
        "HBASE_SHA512": f"{APACHE}/2.6.4/hbase-2.6.4-hadoop3-bin.tar.gz",
        "PINPOINT_COLLECTOR_SHA512": f"{GITHUB}/v{PINPOINT_VERSION}/pinpoint-collector-{PINPOINT_VERSION}-exec.jar",
        "PINPOINT_WEB_SHA512": f"{GITHUB}/v{PINPOINT_VERSION}/pinpoint-web-{PINPOINT_VERSION}-exec.jar",
        "agent_sha512": f"{GITHUB}/v{PINPOINT_VERSION}/pinpoint-agent-{PINPOINT_VERSION}.tar.gz",
    }


def test_the_deploys_build_args_are_the_settings_alone() -> None:
    """What cdk deploy passes (stacks/constructs/pinpoint_image.py) and make local repeats: never
    the Dockerfile's defaults, some of which refer to other ARGs (FETCH_IMAGE=${BASE_IMAGE})."""
    config = parse_settings({"pinpoint_version": "3.0.1", "image_build_args": {"HBASE_SHA512": "ab" * 64}})
    assert deploy_build_args(config) == {"PINPOINT_VERSION": "3.0.1", "HBASE_SHA512": "ab" * 64}
    assert "${" in dockerfile_defaults(IMAGE_DOCKERFILE)["FETCH_IMAGE"]


def test_without_an_image_build_only_the_agent_is_downloaded(dockerfile: Path) -> None:
    (item,) = artifacts(parse_settings({}), dockerfile, image=False)
    assert item.setting == "agent_sha512"


def test_a_checksum_arg_without_a_known_download_must_be_set(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM scratch\nARG OTHER_SHA512=\n")
    with pytest.raises(ScriptError, match="needs build arg OTHER_SHA512") as error:
        artifacts(parse_settings({}), dockerfile)
    assert error.value.exit_code == EXIT_USAGE
    set_by_hand = parse_settings({"image_build_args": {"OTHER_SHA512": "ab" * 64}})
    assert [item.setting for item in artifacts(set_by_hand, dockerfile)] == ["agent_sha512"]


def test_a_url_needing_an_unset_arg_is_refused(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM scratch\nARG HBASE_VERSION=2.6.5\nARG HBASE_SHA512=\n")
    with pytest.raises(ScriptError, match="no ARG HBASE_BASE_URL default"):
        artifacts(parse_settings({}), dockerfile)


ITEM = Artifact("PINPOINT_WEB_SHA512", "http://m/pinpoint-web-9.9.9-exec.jar", True, "pinpoint_version=9.9.9")


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        (Probe(ITEM.url, 206, "HTTP 206 Partial Content"), None),
        (Probe(ITEM.url, 200, "HTTP 200 OK"), None),
        (
            Probe(ITEM.url, 404, "HTTP 404 Not Found"),
            f"pinpoint-web-9.9.9-exec.jar does not exist: {ITEM.url} answered HTTP 404 Not Found "
            "(check pinpoint_version=9.9.9 and the download base URL)",
        ),
        (Probe(ITEM.url, 403, "HTTP 403 Forbidden"), f"cannot download {ITEM.url}: HTTP 403 Forbidden"),
        (
            Probe(ITEM.url, None, "Connection refused"),
            f"cannot reach {ITEM.url} to download pinpoint-web-9.9.9-exec.jar: Connection refused",
        ),
    ],
)
def test_probe_answers_become_one_line(probe: Probe, expected: str | None) -> None:
    assert probe_problem(ITEM, probe) == expected


def test_pins_merge_into_the_file_keeping_everything_else() -> None:
    raw = {
        "stack_name": "X",
        "image_build_args": {"PINPOINT_BASE_URL": "http://m", "PINPOINT_WEB_SHA512": "old"},
    }
    agent = Artifact("agent_sha512", "http://m/agent.tar.gz", False)
    merged = merged_settings(raw, [Pinned(ITEM, "ab" * 64, None), Pinned(agent, "cd" * 64, None)])
    assert merged == {
        "stack_name": "X",
        "agent_sha512": "cd" * 64,
        "image_build_args": {"PINPOINT_BASE_URL": "http://m", "PINPOINT_WEB_SHA512": "ab" * 64},
        # Which file each value was taken from: a later version change re-pins instead of failing.
        "checksums_pinned_for": {"PINPOINT_WEB_SHA512": ITEM.name, "agent_sha512": "agent.tar.gz"},
    }
    assert raw["image_build_args"]["PINPOINT_WEB_SHA512"] == "old"  # the input is not modified
    assert merged_settings({"image_build_args": '{"A": "1"}'}, [])["image_build_args"] == {"A": "1"}


def test_a_pin_taken_from_another_version_is_stale_and_counts_as_unpinned(dockerfile: Path) -> None:
    config = parse_settings(
        {
            "agent_sha512": "cd" * 64,
            "image_build_args": {"PINPOINT_WEB_SHA512": "ab" * 64, "PINPOINT_COLLECTOR_SHA512": "ef" * 64},
            "checksums_pinned_for": {
                "agent_sha512": "pinpoint-agent-3.0.1.tar.gz",
                "PINPOINT_WEB_SHA512": "pinpoint-web-3.0.1-exec.jar",
                "PINPOINT_COLLECTOR_SHA512": "pinpoint-collector-3.1.0-exec.jar",
            },
        }
    )
    items = {item.setting: item for item in artifacts(config, dockerfile)}
    assert (items["agent_sha512"].pinned, items["agent_sha512"].stale_from) == (
        None,
        "pinpoint-agent-3.0.1.tar.gz",
    )
    assert items["PINPOINT_WEB_SHA512"].pinned is None
    assert items["PINPOINT_WEB_SHA512"].stale_from == "pinpoint-web-3.0.1-exec.jar"
    # Pinned for the file the deploy downloads now: kept.
    assert (items["PINPOINT_COLLECTOR_SHA512"].pinned, items["PINPOINT_COLLECTOR_SHA512"].stale_from) == (
        "ef" * 64,
        None,
    )
    # A value with no record (set by hand) is taken as it is.
    (agent,) = artifacts(parse_settings({"agent_sha512": "cd" * 64}), dockerfile, image=False)
    assert (agent.pinned, agent.stale_from) == ("cd" * 64, None)


def test_the_report_says_how_each_value_was_verified() -> None:
    lines = report_lines(
        [
            Pinned(ITEM, "ab" * 64, "http://m/x.sha512"),
            Pinned(Artifact("agent_sha512", "http://m/a.tgz", False), "cd" * 64, None),
        ]
    )
    assert lines[0] == f"PINPOINT_WEB_SHA512={'ab' * 64}"
    assert lines[1] == "  pinpoint-web-9.9.9-exec.jar: matches http://m/x.sha512"
    assert lines[3].startswith("  a.tgz: trust-on-first-download")
    assert "`sha512sum a.tgz`" in lines[3]


# --- a wrong published checksum: `make pin-checksums` fails and writes nothing --------------------


@pytest.fixture(scope="module")
def release() -> Iterator[ReleaseStub]:
    with release_stub() as stub:
        yield stub


@pytest.mark.parametrize("algorithm", ["sha512", "sha1"])
def test_a_wrong_published_checksum_fails_and_writes_nothing(
    tmp_path: Path, release: ReleaseStub, algorithm: str
) -> None:
    """A mirror publishing `<jar>.sha512` or `.sha1` (an artifact server in front of the release)
    that disagrees with the download: scripts/pin_checksums.py, in process, against the image's
    own Dockerfile (tests/integration/test_pin_checksums.py runs the script against a mirror)."""
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    base = f"{release.base_url}/{algorithm}-mirror"  # this test's own paths on the shared host
    settings = {
        "stack_name": "Kept",
        "agent_download_base_url": f"{base}/github",
        "image_build_args": {"PINPOINT_BASE_URL": f"{base}/github", "HBASE_BASE_URL": f"{base}/apache"},
    }
    path = config_dir / "prod.json"
    path.write_text(json.dumps(settings, indent=2) + "\n")
    before = path.read_bytes()
    collector = next(
        item.url
        for item in artifacts(parse_settings(settings), IMAGE_DOCKERFILE)
        if item.setting == "PINPOINT_COLLECTOR_SHA512"
    )
    wrong = "f" * PUBLISHED_DIGESTS[algorithm]
    release.publish(f"{collector}.{algorithm}", f"{wrong}  {collector.rsplit('/', 1)[-1]}\n")
    actual = release.sha512(collector) if algorithm == "sha512" else release.sha1(collector)

    with pytest.raises(ScriptError) as failed:
        pin_checksums.main(["--config", "prod", "--config-dir", str(config_dir)])

    assert str(failed.value) == (
        f"checksum mismatch for {collector.rsplit('/', 1)[-1]}: {collector}.{algorithm} says {algorithm} "
        f"{wrong}, the download from {collector} has {actual}; nothing was written"
    )
    assert failed.value.exit_code == 1
    assert path.read_bytes() == before
    assert sorted(p.name for p in config_dir.iterdir()) == ["prod.json"]  # no temporary file either
    assert f"GET {release.path(collector)}" in release.requests  # it was downloaded and compared


def test_a_matching_published_checksum_is_what_the_pin_is_verified_by(
    tmp_path: Path, release: ReleaseStub, capsys: pytest.CaptureFixture[str]
) -> None:
    """The control of the test above: the same mirror with a right `.sha1` is pinned, verified."""
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    base = f"{release.base_url}/right-mirror"
    settings = {
        "agent_download_base_url": f"{base}/github",
        "image_build_args": {"PINPOINT_BASE_URL": f"{base}/github", "HBASE_BASE_URL": f"{base}/apache"},
    }
    (config_dir / "default.json").write_text(json.dumps(settings))
    collector = next(
        item.url
        for item in artifacts(parse_settings(settings), IMAGE_DOCKERFILE)
        if item.setting == "PINPOINT_COLLECTOR_SHA512"
    )
    release.publish(f"{collector}.sha1", release.sha1(collector) + "\n")

    assert pin_checksums.main(["--config-dir", str(config_dir)]) == 0

    written = json.loads((config_dir / "default.json").read_text())
    assert written["image_build_args"]["PINPOINT_COLLECTOR_SHA512"] == release.sha512(collector)
    assert f"  {collector.rsplit('/', 1)[-1]}: matches {collector}.sha1" in capsys.readouterr().out
