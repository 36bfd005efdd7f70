"""What must hold before a decider may approve: the committee's quorum and the DUO match.

Both are checked inside :meth:`genomlab.platform.applications.workflow.Workflow.approve`, in the
approval's own transaction, and their outcome goes into the ``application.approved`` event (so
the case file's timeline shows it):

- **Committee quorum.** Once a handler asked the scientific committee (§ 64e (9b) SGB V) to
  review, committee votes count: at least ``review.committee_quorum`` of them (configuration,
  default 1, see :class:`genomlab.config.ReviewConfig`) before an approval. Approve, reject
  and abstain all count toward the quorum; the tally is recorded (``committee_votes``). The
  committee advises (§ 64e (9b)): a majority against does not bind the decider, but it is on
  record beside the decision. Without a requested review no vote is needed.
- **DUO mismatch.** A requested dataset whose DUO tags block the application's purpose
  (:func:`genomlab.platform.applications.duo.match_application`, verdict ``blocked``) blocks
  the approval unless the decider records why it is approved anyway
  (``duo_override_reason``, at least :data:`MIN_OVERRIDE_LENGTH` characters). A dataset the
  decider rejected (``decide_dataset``) is not released and needs no override. A purpose
  beyond the participants' research consent (subject ``research-consent``) cannot be
  overridden: no decider can widen a consent (§ 64e (6)).

Examples
--------
>>> check_committee_quorum("APP-000001", review_requested=True,
...                        votes={"approve": 1, "reject": 0, "abstain": 1}, quorum=2)
>>> check_committee_quorum("APP-000001", review_requested=True, votes={"approve": 1}, quorum=2)
Traceback (most recent call last):
...
genomlab.errors.ConflictError: approve APP-000001: committee quorum not reached (1 of 2 votes)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, func, select

from genomlab.errors import ConflictError, PermissionDenied, ValidationFailed
from genomlab.platform.applications import projection as t
from genomlab.platform.applications.duo import MatchVerdict, match_application
from genomlab.platform.applications.models import ApplicationForm
from genomlab.platform.applications.queries import get_dataset_tags

VOTES = ("approve", "reject", "abstain")
MIN_OVERRIDE_LENGTH = 20
"""Characters: an override of a DUO block must give a reason, not a word (a reason for a
return or rejection needs 5, :data:`~genomlab.platform.applications.workflow.MIN_REASON_LENGTH`;
overriding a dataset's use conditions needs more)."""
CONSENT_SUBJECT = "research-consent"


def count_committee_votes(conn: Connection, application_id: str) -> dict[str, int]:
    """The committee's votes on an application: ``{"approve": n, "reject": n, "abstain": n}``."""
    rows = conn.execute(select(t.votes.c.vote, func.count()).where(
        t.votes.c.application_id == application_id).group_by(t.votes.c.vote)).all()
    counted = {vote: int(n) for vote, n in rows}
    return {vote: counted.get(vote, 0) for vote in VOTES}


def can_approve_with_votes(*, review_requested: bool, votes: Mapping[str, int],
                           quorum: int) -> bool:
    """Whether the committee's votes allow an approval (see the module docstring)."""
    return not review_requested or sum(votes.values()) >= quorum


def check_committee_quorum(application_id: str, *, review_requested: bool,
                           votes: Mapping[str, int], quorum: int) -> None:
    """Raise :class:`ConflictError` unless :func:`can_approve_with_votes`."""
    if not can_approve_with_votes(review_requested=review_requested, votes=votes,
                                  quorum=quorum):
        raise ConflictError(f"approve {application_id}: committee quorum not reached "
                            f"({sum(votes.values())} of {quorum} votes)")


def get_blocking_verdicts(conn: Connection, form: ApplicationForm,
                          dataset_decisions: Mapping[str, str]) -> list[MatchVerdict]:
    """The ``blocked`` DUO verdicts that stand against an approval: the consent's, and those
    of requested datasets the decider has not rejected."""
    return [v for v in match_application(form, get_dataset_tags(conn))
            if v.verdict == "blocked" and dataset_decisions.get(v.subject) != "reject"]


def check_duo_override(application_id: str, blocked: Sequence[MatchVerdict],
                       reason: str | None) -> str | None:
    """The override reason to record (``None`` if nothing is blocked); else raise.

    A blocked research consent raises :class:`PermissionDenied` (no override); a blocked
    dataset without a reason of :data:`MIN_OVERRIDE_LENGTH` characters raises
    :class:`ValidationFailed` naming the datasets and the field ``duo_override_reason``.
    """
    consent = [v for v in blocked if v.subject == CONSENT_SUBJECT]
    if consent:
        raise PermissionDenied(f"approve {application_id}: the purpose exceeds the research "
                               f"consent ({'; '.join(consent[0].reasons)}); no override")
    if not blocked:
        return None
    text = (reason or "").strip()
    if len(text) < MIN_OVERRIDE_LENGTH:
        named = ", ".join(f"{v.subject} ({'; '.join(v.reasons)})" for v in blocked)
        raise ValidationFailed(f"approve {application_id}: duo_override_reason: DUO mismatch "
                               f"blocks {named}; approving anyway needs a reason of at least "
                               f"{MIN_OVERRIDE_LENGTH} characters")
    return text
