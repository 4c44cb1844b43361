"""scripts/inject_apm_opts.py: placeholders filled safely for any value, every mistake named.

"Safely" is checked against the reader that matters: the Dockerfile lexer. Each rendered
ENV/ARG word is parsed back the way Docker reads a double-quoted word and must equal the value.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scripts.inject_apm_opts import InjectError, dockerfile_quote, main, parse_assignments, render
from stacks.constructs.agent_distribution import apm_opts

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "inject_apm_opts.py"
APP_TEMPLATE = REPO_ROOT / "images" / "app" / "Dockerfile"

# Values that break the seed's `sed "s|<KEY>|value|g"` (| & \) or a naive Dockerfile
# substitution (" $ spaces), plus a few other shell-meaningful characters.
HOSTILE_VALUES = [
    "-Dpinpoint.applicationName=a|b",
    "-Dx=a&b -Dy=&",
    r"-Dpath=C:\temp\new -Dtrailing=\\",
    "-Dquote=\"double\" -Dsingle='single'",
    "-Dmoney=$HOME ${JAVA_HOME} $(id) `id`",
    "-Dspaces=  several   spaces  ",
    "-Dglob=* -Dsemi=a;b -Dlt=<APM_OPTS> -Dhash=#x",
    "",
    "유니코드-값",
]


def read_dockerfile_word(text: str) -> str:
    """Docker's lexer for one double-quoted word: backslash escapes the next character;
    an unescaped ``$`` would be variable expansion (returned marked so tests can see it)."""
    assert text.startswith('"'), text
    assert text.endswith('"'), text
    out: list[str] = []
    index = 1
    while index < len(text) - 1:
        char = text[index]
        if char == "\\":
            out.append(text[index + 1])
            index += 2
            continue
        if char == '"':
            raise AssertionError(f"unescaped quote inside word: {text}")
        if char == "$":
            out.append("<EXPANDED>")
        else:
            out.append(char)
        index += 1
    return "".join(out)


def rendered_env_value(rendered: str, key: str) -> str:
    match = re.search(rf'^\s*(?:ENV|ARG)\s+{key}=("(?:[^"\\]|\\.)*")', rendered, re.M)
    assert match, f"{key} not found in:\n{rendered}"
    return read_dockerfile_word(match.group(1))


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_hostile_value_reaches_the_image_variable_unchanged(value: str) -> None:
    template = 'FROM scratch\nENV APM_OPTS="<APM_OPTS>"\n'
    rendered = render(template, {"APM_OPTS": value})
    assert rendered_env_value(rendered, "APM_OPTS") == value
    assert rendered.count("\n") == template.count("\n")


def test_quoting_escapes_exactly_backslash_quote_and_dollar() -> None:
    assert dockerfile_quote(r'a\b"c$d|e&f') == r'"a\\b\"c\$d|e&f"'


def test_the_app_template_renders_all_four_keys() -> None:
    values = {
        "JAR_FILE": "build/libs/my app.jar",
        "JAVA_OPTS": "-Duser.timezone=Asia/Seoul -Dspring.profiles.active=prod",
        "APM_FILE": "",
        "APM_OPTS": apm_opts("/pinpoint-agent", "api|v2&x"),
    }
    rendered = render(APP_TEMPLATE.read_text(), values)
    for key, value in values.items():
        assert rendered_env_value(rendered, key) == value
    # Documentation comments keep their placeholders; no instruction line does.
    instructions = [line for line in rendered.splitlines() if not line.lstrip().startswith("#")]
    assert not any(re.search(r"<[A-Z_]+>", line) for line in instructions)


def test_unknown_key_is_an_error_naming_it() -> None:
    with pytest.raises(InjectError, match=r"unknown key 'APM_OPT' .*allowed: JAR_FILE, JAVA_OPTS"):
        parse_assignments(["APM_OPT=-javaagent:x.jar"])


def test_key_set_twice_is_an_error() -> None:
    with pytest.raises(InjectError, match="key JAVA_OPTS is set twice"):
        parse_assignments(["JAVA_OPTS=-Xmx1g", "JAVA_OPTS=-Xmx2g"])


def test_assignment_without_equals_is_an_error() -> None:
    with pytest.raises(InjectError, match="expected KEY=VALUE"):
        parse_assignments(["APM_OPTS"])


def test_value_with_a_newline_is_refused() -> None:
    with pytest.raises(InjectError, match="value of APM_OPTS holds a newline"):
        parse_assignments(["APM_OPTS=-Da=1\nRUN rm -rf /"])


def test_unfilled_placeholder_is_an_error_naming_it() -> None:
    template = 'FROM scratch\nENV JAVA_OPTS="<JAVA_OPTS>"\nENV APM_OPTS="<APM_OPTS>"\n'
    with pytest.raises(InjectError, match=r"line 3: placeholder <APM_OPTS> left unfilled"):
        render(template, {"JAVA_OPTS": "-Xmx1g"})


def test_unknown_placeholder_in_the_template_is_an_error_naming_it() -> None:
    with pytest.raises(InjectError, match=r"line 2: unknown placeholder <APM_OPT>"):
        render('FROM scratch\nENV X="<APM_OPT>"\n', {})


def test_placeholder_outside_quotes_is_refused() -> None:
    with pytest.raises(
        InjectError, match=r"line 2: placeholder <JAR_FILE> must be a whole double-quoted word"
    ):
        render("FROM scratch\nCOPY <JAR_FILE> /app/app.jar\n", {"JAR_FILE": "a.jar"})


def test_set_key_absent_from_the_template_is_an_error() -> None:
    with pytest.raises(InjectError, match=r'--set APM_FILE given but the template has no "<APM_FILE>"'):
        render('FROM scratch\nENV APM_OPTS="<APM_OPTS>"\n', {"APM_OPTS": "", "APM_FILE": "x"})


def test_placeholders_in_comments_are_left_alone() -> None:
    template = '# fill "<APM_OPTS>" in CI\nFROM scratch\nENV APM_OPTS="<APM_OPTS>"\n'
    rendered = render(template, {"APM_OPTS": "-Da=1"})
    assert rendered.startswith('# fill "<APM_OPTS>" in CI\n')


def test_a_value_that_looks_like_a_placeholder_is_not_filled_again() -> None:
    template = 'FROM scratch\nENV JAVA_OPTS="<JAVA_OPTS>"\nENV APM_OPTS="<APM_OPTS>"\n'
    rendered = render(template, {"JAVA_OPTS": "<APM_OPTS>", "APM_OPTS": "-Da=1"})
    assert rendered_env_value(rendered, "JAVA_OPTS") == "<APM_OPTS>"


def test_cli_writes_the_file(tmp_path: Path) -> None:
    template = tmp_path / "Dockerfile.in"
    template.write_text('FROM scratch\nENV APM_OPTS="<APM_OPTS>"\n')
    out = tmp_path / "out" / "Dockerfile"
    value = "-Da=x|y&z\\w"
    assert main(["--template", str(template), "--out", str(out), "--set", f"APM_OPTS={value}"]) == 0
    assert rendered_env_value(out.read_text(), "APM_OPTS") == value


def test_cli_error_is_one_line_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    template = tmp_path / "Dockerfile.in"
    template.write_text('FROM scratch\nENV APM_OPTS="<APM_OPTS>"\n')
    out = tmp_path / "Dockerfile"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--template", str(template), "--out", str(out), "--set", "FOO=1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: unknown key 'FOO' in --set; allowed: JAR_FILE, JAVA_OPTS, APM_FILE, APM_OPTS"
    ]
    assert not out.exists()


def test_cli_missing_template_is_reported(tmp_path: Path) -> None:
    assert main(["--template", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2


def test_ci_example_injects_with_this_script_and_pushes_with_push_image() -> None:
    workflow = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / "app-image.yml").read_text())
    steps = workflow["jobs"]["image"]["steps"]
    scripts = " ".join(step.get("run", "") for step in steps)
    # The APM_OPTS it injects is the stack's (version-less jar, container mode), variables filled.
    mount = workflow["env"]["AGENT_MOUNT_PATH"]
    injected = scripts.replace("${AGENT_MOUNT_PATH}", mount).replace("${APP_NAME}", "orders")
    assert f'--set "APM_OPTS={apm_opts(mount, "orders")}"' in injected
    assert "scripts/inject_apm_opts.py" in scripts
    assert "sed " not in scripts
    for key in ("JAR_FILE", "JAVA_OPTS", "APM_FILE", "APM_OPTS"):
        assert f'--set "{key}=' in scripts
    (push,) = [step["run"] for step in steps if "push_image.py" in step.get("run", "")]
    assert "--platform linux/arm64" in push
    assert "--context build/app" in push
