"""Accessibility of a page with axe-core (``axe-playwright-python``): labels, headings, contrast."""

from __future__ import annotations

from typing import Any

A11Y_RULES = (
    "document-title", "html-has-lang", "page-has-heading-one", "heading-order", "empty-heading",
    "label", "select-name", "button-name", "input-button-name", "image-alt", "color-contrast",
    "link-name",
)
"""The axe rules checked: a real title; headings present and in order; every control, button,
image and link named; text contrast of WCAG 2 AA."""


def get_accessibility_violations(page: Any, rules: tuple[str, ...] = A11Y_RULES) -> list[str]:
    """One line per axe violation on ``page``: rule, impact, and the elements (selector and
    axe's summary of what fails)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "rule", "values": list(rules)},
                                       "resultTypes": ["violations"]})
    lines = []
    for violation in results.response["violations"]:
        for node in violation["nodes"]:
            summary = " ".join(node.get("failureSummary", "").split())
            lines.append(f"{violation['id']} ({violation['impact']}): {node['target']} "
                         f"{node.get('html', '')[:120]!r} — {summary[:300]}")
    return lines
