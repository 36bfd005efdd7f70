"""Composition root of the data-node intake: hospitals, trust centre, nodes and platform wired.

Nodes never import the trust centre; this module (like ``genomlab.cli`` and the demo) holds
several institutions at once and passes them to each other:

- :class:`CaseBook` is the hospitals' (LEs') own book from the references they put into their
  submissions (the tanG for the index donor, ``<tanG>:<donorPseudonym>`` for a relative, the
  tanC of a clinical record) to the Vorgangsnummern the trust centre issued them
  (GenDV § 7(3)). The synthetic world's generator plays the LEs, so
  :func:`request_world_case_numbers` fills the book from the world's identity inputs
  (``hospitals/<IK>/case_numbers_request.tsv``) and its list of submissions.
- :class:`BookPseudonymService` is the :class:`genomlab.messages.PseudonymService` the nodes
  get: it looks the reference up in the book and asks the trust centre.
- :func:`make_platform_reporter` hands a node's Prüfbericht to the platform
  (:func:`genomlab.platform.confirmations.receive_pruefbericht`) and files the signed
  Meldebestätigung for the hospital under ``<home>/hospitals/<IK>/meldebestaetigungen/``.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genomlab.config import GenomlabConfig
from genomlab.errors import NotFoundError, ValidationFailed
from genomlab.hail_session import HailModule
from genomlab.messages import DatasetDomain
from genomlab.node_approval import check_node_approved, get_platform_node_status
from genomlab.strict_json import JsonRefused, load_strict_json

if TYPE_CHECKING:
    from genomlab.clinical_node.intake import FileOutcome

BOOK_NAME = "case_book.json"


class CaseBook:
    """The LEs' mapping from submission references to trust-centre VNs (a 0600 JSON file).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> book = CaseBook(pathlib.Path(tempfile.mkdtemp()) / "book.json")
    >>> book.add({"ab": "vn1"}); book.lookup("ab")
    'vn1'
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, str] = (json.loads(path.read_text()) if path.exists() else {})

    def lookup(self, reference: str) -> str:
        try:
            return self.entries[reference.lower()]
        except KeyError:
            raise NotFoundError("no case number issued for this submission reference "
                                f"({reference[:8]}…)") from None

    def add(self, entries: dict[str, str]) -> None:
        """Add entries and save (temp file + rename, 0600)."""
        self.entries.update({k.lower(): v for k, v in entries.items()})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(self.entries, handle, sort_keys=True)
        os.replace(tmp, self.path)


def get_case_book(config: GenomlabConfig) -> CaseBook:
    """The LEs' case book of this home (``<home>/hospitals/case_book.json``)."""
    return CaseBook(config.home / "hospitals" / BOOK_NAME)


class BookPseudonymService:
    """A :class:`genomlab.messages.PseudonymService` over the trust centre and the LE book."""

    def __init__(self, trust_center: Any, book: CaseBook) -> None:
        self.trust_center = trust_center
        self.book = book

    def exchange_case_number(self, case_number: str, *, node_id: str,
                             domain: DatasetDomain) -> str:
        return str(self.trust_center.exchange_case_number(self.book.lookup(case_number),
                                                          node_id=node_id, domain=domain))

    def confirm_delivery(self, case_number: str, *, node_id: str, pseudonym: str) -> None:
        self.trust_center.confirm_delivery(self.book.lookup(case_number), node_id=node_id,
                                           pseudonym=pseudonym)


def get_pseudonym_service(config: GenomlabConfig) -> BookPseudonymService:
    """The trust centre of this home behind the LEs' case book."""
    from genomlab.trust_center.service import TrustCenter

    return BookPseudonymService(TrustCenter(config), get_case_book(config))


def request_world_case_numbers(config: GenomlabConfig, world: Path) -> int:
    """Let the world's hospitals request VNs for each donor of each submission (once).

    Returns the number of references added to the book.
    """
    from genomlab.trust_center.service import TrustCenter

    truth = json.loads((world / "truth.json").read_text())
    identity: dict[str, dict[str, str]] = {}
    for tsv in sorted((world / "hospitals").glob("*/case_numbers_request.tsv")):
        with tsv.open(newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                identity[row["sample"]] = row
    tan_c = {s["sample"]: s.get("tan_c") for s in truth["samples"]}
    book = get_case_book(config)
    tc = TrustCenter(config)
    added: dict[str, str] = {}
    for sub in truth["submissions"]:
        for sample in sub["samples"]:
            index = sample == sub["index_sample"]
            reference = sub["tan_g"] if index else f"{sub['tan_g']}:{sample}"
            if reference.lower() in book.entries:
                continue
            person = identity[sample]
            numbers = tc.request_case_numbers(
                kvnr=person["kvnr_unchangeable"], arbeitsnummer=person["arbeitsnummer"],
                le_ik=person["hospital_ik"], le_name=person["hospital_name"],
                actor=f"le:{person['hospital_ik']}", submission_type=sub["type"]
                if sub["type"] in ("initial", "followup", "addition", "correction")
                else "initial")
            added[reference] = numbers.genomic
            if index and sub["type"] == "initial" and tan_c.get(sample):
                added[str(tan_c[sample])] = numbers.clinical
    book.add(added)
    return len(added)


CONSENTS_REPORTED = "consents_reported.json"
MV_SCOPES = ("mvSequencing", "reIdentification", "caseIdentification")


def record_world_consents(config: GenomlabConfig, world: Path) -> int:
    """Let the world's hospitals report every donor's consents to the trust centre (once).

    The model-project scopes (mvConsent) and the research consent (MII broad consent) as the
    donor gave them, then the research-consent withdrawals with their dates. The trust centre
    issues linkage maps only for persons whose research consent it knows, and re-identification
    only with the matching scope. The hospitals keep what they already reported in their own
    book, so a rerun reports nothing twice. Returns the number of consent events reported.
    """
    from datetime import date

    from genomlab.trust_center.service import TrustCenter

    truth = json.loads((world / "truth.json").read_text())
    identity = {s["sample"]: s for s in truth["samples"]}
    reported = CaseBook(config.home / "hospitals" / CONSENTS_REPORTED)
    tc = TrustCenter(config)
    n_reported = 0
    for consent in truth["consents"]:
        person = identity[consent["sample"]]
        kvnr, ik = person["kvnr"], person["hospital_ik"]
        decisions = [(scope["domain"], scope["type"], scope["date"])
                     for scope in consent["mv_consent"]["scopes"] if scope["domain"] in MV_SCOPES]
        if consent["research_consent"] in ("permit", "deny"):
            decisions.append(("research", consent["research_consent"],
                              consent["research_presentation_date"]))
        for scope, decision, on in decisions:
            key = f"{consent['sample']}:{scope}"
            if key.lower() in reported.entries:
                continue
            tc.record_consent(kvnr=kvnr, le_ik=ik, scope=scope,
                              decision=decision, actor=f"le:{ik}",
                              decided_on=date.fromisoformat(on))
            reported.add({key: f"{decision}@{on}"})  # at once: a rerun after a crash skips it
            n_reported += 1
        for withdrawal in consent["withdrawals"]:
            key = f"{consent['sample']}:research-withdrawn:{withdrawal['date']}"
            if key.lower() in reported.entries:
                continue
            tc.withdraw_research_consent(kvnr=kvnr, le_ik=ik, actor=f"le:{ik}",
                                         withdrawn_on=date.fromisoformat(withdrawal["date"]))
            reported.add({key: "withdrawn"})
            n_reported += 1
    return n_reported


def make_platform_reporter(config: GenomlabConfig, node_id: str) -> Callable[[dict[str, Any]],
                                                                             str]:
    """A reporter for ``node_id``: Prüfbericht → platform → Meldebestätigung filed for the LE."""
    from genomlab.platform.confirmations import confirmation_bytes, receive_pruefbericht

    def report(pruefbericht: dict[str, Any]) -> str:
        document = receive_pruefbericht(config, node_id, pruefbericht, actor=f"node:{node_id}")
        body = document.body
        folder = config.home / "hospitals" / body["submitter_id"] / "meldebestaetigungen"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{body['confirmation_id']}.json"
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(confirmation_bytes(document))
        os.replace(tmp, target)
        return str(body["confirmation_id"])

    return report


def list_submission_dirs(paths: Sequence[Path]) -> list[Path]:
    """Submission folders: each path is one (has ``metadata/``) or a folder of them.

    Raises :class:`ValidationFailed` for a folder that is neither (it would be skipped
    silently).
    """
    found: list[Path] = []
    for path in paths:
        if (path / "metadata").is_dir() or not path.is_dir():
            found.append(path)
            continue
        inner = sorted(p for p in path.iterdir() if (p / "metadata").is_dir())
        if not inner:
            raise ValidationFailed(f"{path}/metadata/metadata.json: not found; {path} is "
                                   "neither a submission folder nor a folder of them")
        found += inner
    return found


def read_sent_json(path: Path) -> Any:
    """A metadata or record file, read as intake reads it (:mod:`genomlab.strict_json`).

    Raises :class:`ValidationFailed` with one line naming the file (and the key) if it cannot
    be read.
    """
    try:
        return load_strict_json(path.read_bytes())
    except OSError as exc:
        raise ValidationFailed(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except JsonRefused as exc:
        raise ValidationFailed(f"{path}: {exc}") from exc


def get_named_grz(directory: Path) -> str | None:
    """The ``genomicDataCenterId`` a submission's metadata names (``None`` if it names none)."""
    raw = read_sent_json(directory / "metadata" / "metadata.json")
    try:
        return str(raw["submission"]["genomicDataCenterId"])
    except (KeyError, TypeError):
        return None


def check_nodes_approved(config: GenomlabConfig, nodes: Iterable[str]) -> None:
    """Refuse the whole run before any node's store is opened if the platform does not approve
    one of ``nodes`` now (:class:`~genomlab.node_approval.NodeNotApproved`). Each node's
    ``submit`` checks again for itself."""
    from genomlab.platform.nodes import get_node_kind

    source = get_platform_node_status(config)
    for node in sorted(nodes):
        check_node_approved(source, node, door=f"{get_node_kind(node).upper()} {node} intake")


def run_grz_intake(config: GenomlabConfig, directories: Sequence[Path], *,
                   node_id: str | None = None, progress: Callable[[str], None] = print,
                   hail: Callable[[], HailModule] | None = None) -> dict[str, Any]:
    """Submit folders to their GRZ (``node_id``, else the one each metadata names).

    Hail starts once, and only if some genotypes are to be stored. Returns per node the
    :class:`genomlab.genome_center.intake.IntakeSummary`.
    """
    from genomlab.genome_center.intake import GenomeCenter
    from genomlab.platform.nodes import NODE_ID_PATTERNS

    groups: dict[str, list[Path]] = {}
    for directory in list_submission_dirs(directories):
        target = node_id or get_named_grz(directory)
        if target is None or not NODE_ID_PATTERNS["grz"].match(target):
            raise ValidationFailed(f"{directory}/metadata/metadata.json: field "
                                   f"submission.genomicDataCenterId: {target!r} names no GRZ; "
                                   "give --node to submit it to a GRZ's inbox")
        groups.setdefault(target, []).append(directory)
    check_nodes_approved(config, groups)
    start_hail = hail or _hail_starter(config)
    service = get_pseudonym_service(config)
    return {node: GenomeCenter(config, node).submit(
        dirs, service, reporter=make_platform_reporter(config, node), hail=start_hail,
        progress=progress) for node, dirs in sorted(groups.items())}


def _hail_starter(config: GenomlabConfig) -> Callable[[], HailModule]:
    def start() -> HailModule:
        from genomlab.hail_session import init_hail

        return init_hail(config)

    return start


def get_named_kdk(path: Path) -> str | None:
    """The ``clinicalDataNodeId`` a record names (``None`` if it names none)."""
    raw = read_sent_json(path)
    try:
        return str(raw["metaData"]["submission"]["clinicalDataNodeId"])
    except (KeyError, TypeError):
        return None


def run_kdk_intake(config: GenomlabConfig, files: Sequence[Path], *,
                   node_id: str | None = None) -> dict[str, dict[str, FileOutcome]]:
    """Submit record files to their KDK (``node_id``, else the one each record names).

    Returns per node each file's :class:`genomlab.clinical_node.intake.FileOutcome`.
    """
    from genomlab.clinical_node.intake import ClinicalNode
    from genomlab.platform.nodes import NODE_ID_PATTERNS

    groups: dict[str, list[Path]] = {}
    for path in files:
        items = sorted(path.rglob("*.json")) if path.is_dir() else [path]
        for item in items:
            target = node_id or get_named_kdk(item)
            if target is None or not NODE_ID_PATTERNS["kdk"].match(target):
                raise ValidationFailed(f"{item}: field metaData.submission.clinicalDataNodeId: "
                                       f"{target!r} names no KDK; give --node")
            groups.setdefault(target, []).append(item)
    check_nodes_approved(config, groups)
    service = get_pseudonym_service(config)
    return {node: ClinicalNode(config, node).submit(
        items, service, reporter=make_platform_reporter(config, node))
        for node, items in sorted(groups.items())}


def register_world_nodes(config: GenomlabConfig, world: Path, *, actor: str) -> list[str]:
    """Apply for and approve the world's GRZs and KDKs, and the home's data service, at the
    platform (idempotent; a suspension is not undone). Returns the GRZs and KDKs."""
    from genomlab.data_service.approval import register_data_service
    from genomlab.platform.nodes import NodeRegistry

    truth = json.loads((world / "truth.json").read_text())
    registry = NodeRegistry(config)
    nodes = list(truth["institutions"]["grz"]) + list(truth["institutions"]["kdk"])
    for node in nodes:
        registry.ensure_approved(node, name=f"synthetic {node}", actor=actor)
    register_data_service(config, actor=actor)  # BfArM approves data services too
    return nodes


def run_world_intake(config: GenomlabConfig, world: Path, *,
                     progress: Callable[[str], None] = print,
                     hail: Callable[[], HailModule] | None = None) -> dict[str, Any]:
    """The whole synthetic world through intake: nodes, case numbers, GRZ and KDK submissions.

    Bad submissions go to the inbox of the GRZ their original was sent to. Idempotent.
    """
    truth = json.loads((world / "truth.json").read_text())
    register_world_nodes(config, world, actor="genomlab-intake")
    request_world_case_numbers(config, world)
    record_world_consents(config, world)
    grz_of = {s["submission_id"]: s["grz"] for s in truth["submissions"]}
    groups: dict[str, list[Path]] = {}
    for sub in truth["submissions"]:
        groups.setdefault(sub["grz"], []).append(world / sub["path"])
    for bad in truth["bad_submissions"]:
        groups.setdefault(grz_of[bad["derived_from"]], []).append(world / bad["path"])
    results: dict[str, Any] = {}
    start_hail = hail or _hail_starter(config)
    for node, dirs in sorted(groups.items()):
        results.update(run_grz_intake(config, sorted(dirs), node_id=node, progress=progress,
                                      hail=start_hail))
    results.update(run_kdk_intake(config, sorted((world / "kdk").glob("*/records"))))
    return results
