"""The README's configuration reference is generated from the schema and must not drift."""

from pathlib import Path

from scripts.config_reference import BEGIN, END, reference_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_configuration_reference_matches_the_schema() -> None:
    text = README.read_text()
    section = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert section == reference_table(), "run: python scripts/config_reference.py --write"


def test_readme_shows_the_two_commands() -> None:
    text = README.read_text()
    assert "make deploy" in text
    assert "make test" in text
