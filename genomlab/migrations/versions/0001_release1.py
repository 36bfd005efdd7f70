"""Release 1: the store format of every home made before migrations existed.

Every store holds the ledger tables. The platform store holds the applications projection and
the trust-centre store the trust centre's projection, as release 1 (commit 0b9a6ab) created them
with ``create_all``. Stores of the other kinds (data service, GRZ, KDK) create their projection
tables themselves on first open.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    kind = context.config.attributes["kind"]
    _ledger_tables()
    if kind == "platform":
        _platform_tables()
    elif kind == "trust_center":
        _trust_center_tables()


def _ledger_tables() -> None:
    op.create_table('ledger_checkpoints',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', sa.String(length=32), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('signature', sa.String(length=88), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    op.create_table('ledger_events',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('recorded_at', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('stream', sa.String(length=200), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('signature', sa.String(length=88), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('hash')
    )
    op.create_index(op.f('ix_ledger_events_stream'), 'ledger_events', ['stream'])
    op.create_index(op.f('ix_ledger_events_type'), 'ledger_events', ['type'])
    op.create_table('ledger_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )


def _platform_tables() -> None:
    op.create_table('app_datasets',
    sa.Column('dataset_id', sa.String(length=64), nullable=False),
    sa.Column('tags', sa.Text(), nullable=False),
    sa.Column('tagged_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('dataset_id')
    )
    op.create_table('app_entitlements',
    sa.Column('application_id', sa.String(length=20), nullable=False),
    sa.Column('user_id', sa.String(length=200), nullable=False),
    sa.Column('project_id', sa.String(length=20), nullable=False),
    sa.Column('valid_from', sa.String(length=10), nullable=False),
    sa.Column('valid_until', sa.String(length=10), nullable=False),
    sa.Column('ended_at', sa.String(length=32), nullable=True),
    sa.Column('end_reason', sa.String(length=16), nullable=True),
    sa.PrimaryKeyConstraint('application_id', 'user_id')
    )
    op.create_index(op.f('ix_app_entitlements_project_id'), 'app_entitlements', ['project_id'])
    op.create_index(op.f('ix_app_entitlements_user_id'), 'app_entitlements', ['user_id'])
    op.create_table('app_history',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('application_id', sa.String(length=20), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('at', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    op.create_index(op.f('ix_app_history_application_id'), 'app_history', ['application_id'])
    op.create_table('app_results',
    sa.Column('application_id', sa.String(length=20), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('reference', sa.String(length=500), nullable=False),
    sa.Column('added_by', sa.String(length=200), nullable=False),
    sa.Column('added_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('application_id', 'seq')
    )
    op.create_table('app_roles',
    sa.Column('user_id', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('granted_by', sa.String(length=200), nullable=False),
    sa.Column('granted_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('user_id', 'role')
    )
    op.create_table('app_team',
    sa.Column('application_id', sa.String(length=20), nullable=False),
    sa.Column('user_id', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('application_id', 'user_id')
    )
    op.create_index(op.f('ix_app_team_user_id'), 'app_team', ['user_id'])
    op.create_table('app_users',
    sa.Column('user_id', sa.String(length=200), nullable=False),
    sa.Column('institution', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('registered_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_table('app_votes',
    sa.Column('application_id', sa.String(length=20), nullable=False),
    sa.Column('voter', sa.String(length=200), nullable=False),
    sa.Column('vote', sa.String(length=10), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('voted_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('application_id', 'voter')
    )
    op.create_table('applications',
    sa.Column('application_id', sa.String(length=20), nullable=False),
    sa.Column('project_id', sa.String(length=20), nullable=True),
    sa.Column('applicant', sa.String(length=200), nullable=False),
    sa.Column('institution', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('purposes', sa.String(length=100), nullable=False),
    sa.Column('duo_permission', sa.String(length=8), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('form', sa.Text(), nullable=False),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.Column('submitted_at', sa.String(length=32), nullable=True),
    sa.Column('status_changed_at', sa.String(length=32), nullable=False),
    sa.Column('handler', sa.String(length=200), nullable=True),
    sa.Column('review_requested', sa.Boolean(), nullable=False),
    sa.Column('n_votes', sa.Integer(), nullable=False),
    sa.Column('decided_at', sa.String(length=32), nullable=True),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('last_reason', sa.Text(), nullable=True),
    sa.Column('changed_fields', sa.Text(), nullable=True),
    sa.Column('valid_from', sa.String(length=10), nullable=True),
    sa.Column('valid_until', sa.String(length=10), nullable=True),
    sa.Column('approval', sa.Text(), nullable=True),
    sa.Column('revocation', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('application_id'),
    sa.UniqueConstraint('project_id')
    )
    op.create_index(op.f('ix_applications_applicant'), 'applications', ['applicant'])
    op.create_index('ix_applications_queue', 'applications', ['status', 'status_changed_at'])
    op.create_index('ix_applications_submitted', 'applications', ['submitted_at'])


def _trust_center_tables() -> None:
    op.create_table('tc_case_numbers',
    sa.Column('vn_ref', sa.String(length=64), nullable=False),
    sa.Column('domain', sa.String(length=10), nullable=False),
    sa.Column('sealed_binding', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('node_id', sa.String(length=20), nullable=True),
    sa.Column('issued_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('vn_ref')
    )
    op.create_table('tc_cases',
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('le_ik', sa.String(length=9), nullable=False),
    sa.Column('le_name', sa.String(length=200), nullable=False),
    sa.Column('arbeitsnummer_sealed', sa.Text(), nullable=False),
    sa.Column('submission_type', sa.String(length=20), nullable=False),
    sa.Column('requested_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('case_id')
    )
    op.create_index(op.f('ix_tc_cases_person_id'), 'tc_cases', ['person_id'])
    op.create_table('tc_consents',
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('scope', sa.String(length=30), nullable=False),
    sa.Column('decision', sa.String(length=10), nullable=False),
    sa.Column('decided_on', sa.String(length=10), nullable=False),
    sa.Column('le_ik', sa.String(length=9), nullable=False),
    sa.Column('recorded_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('person_id', 'scope')
    )
    op.create_table('tc_deliveries',
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('domain', sa.String(length=10), nullable=False),
    sa.Column('node_id', sa.String(length=20), nullable=False),
    sa.Column('delivered_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('person_id', 'domain', 'node_id')
    )
    op.create_table('tc_key_versions',
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('fingerprint', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('version')
    )
    op.create_table('tc_linkage_maps',
    sa.Column('map_id', sa.String(length=32), nullable=False),
    sa.Column('application_id', sa.String(length=100), nullable=False),
    sa.Column('project_id', sa.String(length=100), nullable=False),
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.Column('n_rows', sa.Integer(), nullable=False),
    sa.Column('n_excluded_no_consent', sa.Integer(), nullable=False),
    sa.Column('n_unknown', sa.Integer(), nullable=False),
    sa.Column('issued_at', sa.String(length=32), nullable=False),
    sa.Column('issued_by', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('map_id')
    )
    op.create_index(op.f('ix_tc_linkage_maps_application_id'),
                    'tc_linkage_maps', ['application_id'])
    op.create_index(op.f('ix_tc_linkage_maps_project_id'), 'tc_linkage_maps', ['project_id'])
    op.create_table('tc_officers',
    sa.Column('officer', sa.String(length=200), nullable=False),
    sa.Column('appointed_by', sa.String(length=200), nullable=False),
    sa.Column('appointed_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('officer')
    )
    op.create_table('tc_persons',
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('kvnr_hash', sa.String(length=64), nullable=False),
    sa.Column('registered_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('person_id'),
    sa.UniqueConstraint('kvnr_hash')
    )
    op.create_table('tc_project_keys',
    sa.Column('project_id', sa.String(length=100), nullable=False),
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('project_id')
    )
    op.create_table('tc_project_persons',
    sa.Column('project_id', sa.String(length=100), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('first_map_id', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('project_id', 'person_id')
    )
    op.create_index(op.f('ix_tc_project_persons_person_id'), 'tc_project_persons', ['person_id'])
    op.create_table('tc_reid_approvals',
    sa.Column('request_id', sa.String(length=32), nullable=False),
    sa.Column('officer', sa.String(length=200), nullable=False),
    sa.Column('approved_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('request_id', 'officer')
    )
    op.create_table('tc_reid_releases',
    sa.Column('request_id', sa.String(length=32), nullable=False),
    sa.Column('le_ik', sa.String(length=9), nullable=False),
    sa.Column('n_cases', sa.Integer(), nullable=False),
    sa.Column('released_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('request_id')
    )
    op.create_table('tc_reid_requests',
    sa.Column('request_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('project_id', sa.String(length=100), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('requester', sa.String(length=200), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('refusal', sa.Text(), nullable=True),
    sa.Column('requested_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('request_id')
    )
    op.create_table('tc_revocations',
    sa.Column('application_id', sa.String(length=100), nullable=False),
    sa.Column('project_id', sa.String(length=100), nullable=False),
    sa.Column('revoked_at', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('application_id')
    )
    op.create_table('tc_spent_case_numbers',
    sa.Column('vn_ref', sa.String(length=64), nullable=False),
    sa.Column('domain', sa.String(length=10), nullable=False),
    sa.Column('node_id', sa.String(length=20), nullable=False),
    sa.Column('deleted_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('vn_ref')
    )
