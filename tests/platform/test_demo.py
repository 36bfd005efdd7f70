"""The demo step the lead's ``genomlab demo`` calls."""

from __future__ import annotations

from genomlab.config import GenomlabConfig
from genomlab.keys import load_public_key
from genomlab.messages import APPROVAL_KIND, verify_document
from genomlab.platform.applications import (
    get_approval_public_key_path,
    get_signed_approval,
    is_entitled,
)
from genomlab.platform.applications.demo import run_applications_demo


def test_run_applications_demo__approves_once_and_is_idempotent(config: GenomlabConfig) -> None:
    first = run_applications_demo(config)
    second = run_applications_demo(config)
    assert first == second
    with open(get_approval_public_key_path(config), "rb") as handle:
        key = load_public_key(handle.read())
    body = verify_document(get_signed_approval(config, first.application_id), key,
                           kind=APPROVAL_KIND)
    assert body["project_id"] == first.project_id
    assert all(is_entitled(config, user, first.project_id) for user in first.team)
