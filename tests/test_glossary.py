"""The German terms of the law: one glossary in --help, `genomlab glossary` and the docs."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

from click.testing import CliRunner

import genomlab.glossary
from genomlab.cli import main
from genomlab.glossary import GLOSSARY, render_glossary_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs" / "glossary.md"


def test_docstring_examples__run() -> None:
    failures, tried = doctest.testmod(genomlab.glossary)
    assert tried > 0
    assert failures == 0


def test_glossary__docs_hold_the_same_table() -> None:
    assert render_glossary_markdown() in DOCS.read_text(encoding="utf-8")


def test_main_help__explains_every_term_once() -> None:
    shown = CliRunner().invoke(main, ["--help"]).output
    for term, _, english in GLOSSARY:
        lines = [line for line in shown.splitlines() if line.strip().startswith(f"{term}  ")]
        assert len(lines) == 1, term
        assert lines[0].endswith(english), term
    for term in ("Prüfbericht", "Meldebestätigung", "Vorgangsnummer", "tanG / tanC", "GRZ",
                 "KDK", "Leistungsdatum"):
        assert term in {t for t, _, _ in GLOSSARY}


def test_glossary_command__one_term_and_unknown_term() -> None:
    found = CliRunner().invoke(main, ["glossary", "tanG", "--format", "json"])
    assert found.exit_code == 0, found.output
    assert [row["term"] for row in json.loads(found.output)] == ["tanG / tanC"]
    unknown = CliRunner().invoke(main, ["glossary", "Pruefbericht"])
    assert unknown.exit_code == 1
    assert unknown.output.splitlines()[-1].startswith(
        "Error: no glossary entry 'Pruefbericht' (known: GRZ, KDK, LE, Prüfbericht,")
