"""images/pinpoint/bin/pinpoint-hbase, the real launcher, against the stand-in that plays it in
the supervisor tests (tests/unit/pinpoint_standins/pinpoint-hbase): for the same environment and
command, the JVM options the launcher passes are the ones the stand-in records, so the stand-in
cannot drift from the launcher. ``java`` is a recorder here; the real JVM runs the launcher in the
integration and real-component tiers.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.unit.pinpoint_standins.harness import IMAGE, STANDINS

LAUNCHER = IMAGE / "bin" / "pinpoint-hbase"
STANDIN = STANDINS / "pinpoint-hbase"
# What the launcher adds that the stand-in does not model (class path, logging, JDK module
# flags): the same for every command, checked once below.
FIXED_PREFIXES = (
    "-Dproc_",
    "-Dorg.apache.hbase.thirdparty",
    "--add-",
    "jdk.unsupported",
    "java.base/",
    "java.security.jgss/",
    "-Djava.util.logging",
    "-Dlog4j2.configurationFile=",
    "-Dpinpoint.hbase.log.level=",
    "-Dhbase.home.dir=",
    "-Dhbase.log.dir=",
)
ENVIRONMENT = {
    "HBASE_HEAPSIZE": "384",  # a bare number is MB (bin/hbase's rule, kept)
    "HBASE_OFFHEAPSIZE": "256m",
    "HBASE_OPTS": "-XX:+UseG1GC -Dpinpoint.hbase.data.dir=/data -Dpinpoint.hbase.master.info.port=16010",
    "HBASE_MASTER_OPTS": "-Xms384m -XX:+ExitOnOutOfMemoryError -Dmaster.only=1",
}


@pytest.fixture
def fake_home(tmp_path: Path) -> Path:
    """HBASE_HOME with a lib/, PINPOINT_HOME with the tool's jar, JAVA_HOME whose java prints
    its arguments one per line."""
    (tmp_path / "hbase" / "lib").mkdir(parents=True)
    (tmp_path / "pinpoint" / "lib").mkdir(parents=True)
    (tmp_path / "pinpoint" / "lib" / "pinpoint-hbase-tables.jar").write_bytes(b"jar")
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    return tmp_path


def launcher_jvm_options(home: Path, *command: str) -> tuple[list[str], list[str]]:
    """(JVM options the launcher passes before -cp, what follows -cp: class path, class, args)."""
    env = {
        "PATH": os.environ["PATH"],
        "JAVA_HOME": str(home / "jdk"),
        "HBASE_HOME": str(home / "hbase"),
        "PINPOINT_HOME": str(home / "pinpoint"),
        "HBASE_CONF_DIR": str(home / "conf"),
        **ENVIRONMENT,
    }
    result = subprocess.run(
        [str(LAUNCHER), *command], env=env, capture_output=True, text=True, timeout=10, check=True
    )
    argv = result.stdout.splitlines()
    split = argv.index("-cp")
    return argv[:split], argv[split + 1 :]


def standin_jvm_options(tmp_path: Path, python: Path, *command: str) -> list[str]:
    """The options the stand-in records for the same command (its 'jvm' event)."""
    events = tmp_path / "events.log"
    env = {
        "PATH": f"{python}:{os.environ['PATH']}",
        "STANDIN_EVENTS": str(events),
        "STANDIN_STATE": str(tmp_path / "state"),
        "HBASE_CONF_DIR": str(IMAGE / "hbase" / "conf"),
        **ENVIRONMENT,
    }
    process = subprocess.Popen(
        [str(STANDIN), *command], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        # `master start` runs until stopped: its options are recorded first.
        while time.monotonic() < deadline and not (events.exists() and " jvm " in events.read_text()):
            time.sleep(0.02)
    finally:
        process.kill()
        process.wait()
    (line,) = [line for line in events.read_text().splitlines() if line.split()[2] == "jvm"]
    return line.split(" ", 3)[3].split()


@pytest.mark.parametrize(
    "command",
    [
        ("master", "start"),
        ("master", "stop", "--shutDownCluster"),
        ("tables", "flush"),
        ("tables", "bootstrap"),
    ],
)
def test_the_stand_in_records_the_jvm_options_the_launcher_passes(
    fake_home: Path, tmp_path: Path, python: Path, command: tuple[str, ...]
) -> None:
    options, _ = launcher_jvm_options(fake_home, *command)
    modelled = [option for option in options if not option.startswith(FIXED_PREFIXES)]
    assert modelled == standin_jvm_options(tmp_path, python, *command)


def test_only_master_start_gets_the_master_options_and_each_command_its_class(fake_home: Path) -> None:
    start, start_rest = launcher_jvm_options(fake_home, "master", "start")
    stop, stop_rest = launcher_jvm_options(fake_home, "master", "stop", "--shutDownCluster")
    flush, flush_rest = launcher_jvm_options(fake_home, "tables", "flush")
    purge, purge_rest = launcher_jvm_options(fake_home, "zookeeper-purge", "/data/zk", "-n", "3")
    assert "-Dmaster.only=1" in start
    for client in (stop, flush, purge):
        assert "-Dmaster.only=1" not in client
        assert "-Xms384m" not in client
    assert {"-Xmx384m", "-XX:MaxDirectMemorySize=256m", "-XX:+UseG1GC"} <= set(stop)
    assert start_rest[1:] == ["org.apache.hadoop.hbase.master.HMaster", "start"]
    assert stop_rest[1:] == ["org.apache.hadoop.hbase.master.HMaster", "stop", "--shutDownCluster"]
    assert flush_rest[1:] == ["pinpointfargate.hbase.PinpointTables", "flush"]
    assert purge_rest[1:] == ["org.apache.zookeeper.server.PurgeTxnLog", "/data/zk", "-n", "3"]
    # The class path: the role's hbase-site.xml first, HBASE_HOME (hbase-webapps), the jars; the
    # table tool's jar only for `tables`.
    classpath = flush_rest[0].split(":")
    assert classpath[:3] == [
        str(fake_home / "conf"),
        str(fake_home / "hbase"),
        str(fake_home / "pinpoint" / "lib" / "pinpoint-hbase-tables.jar"),
    ]
    assert f"{fake_home}/hbase/lib/*" in classpath
    assert "pinpoint-hbase-tables.jar" not in start_rest[0]
    # Java 17: the module flags of bin/hbase's add_jdk11_jvm_flags.
    assert "--add-opens" in start
    assert "java.base/java.nio=ALL-UNNAMED" in start


def test_an_unknown_command_is_refused_with_the_usage(fake_home: Path) -> None:
    result = subprocess.run(
        [str(LAUNCHER), "shell"],
        env={
            "PATH": os.environ["PATH"],
            "JAVA_HOME": str(fake_home / "jdk"),
            "HBASE_HOME": str(fake_home / "hbase"),
        },
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert result.returncode == 64
    assert result.stderr.startswith(
        "usage: pinpoint-hbase master start | master stop --shutDownCluster | tables "
    )
