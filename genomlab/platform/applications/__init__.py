"""Data-use applications (§ 64e (9)–(11b) SGB V): workflow, entitlements, DUO matching, register.

The API other institutions call:

- :func:`get_signed_approval` / :func:`get_signed_revocation` (trust centre, data service): the
  signed documents, verified with ``<home>/platform/keys/approval.pub.pem``;
- :func:`is_entitled` / :func:`get_active_entitlements` (workspace, airlock, data service);
- :func:`get_team`, :func:`get_user_roles`, :func:`get_user_institution`.
"""

from genomlab.platform.applications.entitlements import (
    Entitlement,
    get_active_entitlements,
    get_approval_public_key_path,
    get_signed_approval,
    get_signed_revocation,
    get_team,
    get_user_institution,
    get_user_roles,
    is_entitled,
)
from genomlab.platform.applications.models import ApplicationForm, DatasetTags, Role, Status
from genomlab.platform.applications.workflow import Workflow

__all__ = [
    "ApplicationForm",
    "DatasetTags",
    "Entitlement",
    "Role",
    "Status",
    "Workflow",
    "get_active_entitlements",
    "get_approval_public_key_path",
    "get_signed_approval",
    "get_signed_revocation",
    "get_team",
    "get_user_institution",
    "get_user_roles",
    "is_entitled",
]
