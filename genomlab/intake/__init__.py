"""Composition root of the data-node intake: hospitals, trust centre, nodes and platform wired.

Nodes never import the trust centre; this module (like ``genomlab.cli`` and the demo) holds
several institutions at once and passes them to each other.

One case number per submission (GenDV § 7(3), § 6(3)–(5)): the TAN a hospital (LE) writes into
its submission (the tanG of a GRZ submission, ``<tanG>:<donorPseudonym>`` for a relative in it,
the tanC of a KDK record) *is* the trust centre's Vorgangsnummer. The LE registers it with the
identity (:meth:`genomlab.trust_center.service.TrustCenter.register_case_numbers`, or asks the
trust centre to draw it: ``request_case_numbers``); the node presents the same number to the
trust centre and in its Prüfbericht, and the Meldebestätigung names it. Nobody maps one number
to another. After delivery is confirmed the number is deleted at every party:

- the trust centre deletes it when the node confirms the delivery (``case_number.deleted``);
- the platform keeps only its sha256 (:mod:`genomlab.platform.confirmations`);
- the node redacts it (64 zeros, as grzctl's archive does) in the input it took from its inbox
  and moves the input to its archive (:func:`archive_delivered`), once its Prüfbericht got a
  complete Meldebestätigung;
- the hospital deletes it from its :class:`CaseBook` when the complete Meldebestätigung
  arrives (:func:`make_platform_reporter`). The Meldebestätigung itself keeps the TAN: it is
  the LE's billing evidence towards the insurer (the CSV ``Vorgangsnummer;Meldebestaetigung``).

The synthetic world's generator plays the LEs: :func:`request_world_case_numbers` registers the
world's TANs with the identity inputs (``hospitals/<IK>/case_numbers_request.tsv``) and fills the
hospitals' books; :func:`upload_world_inputs` copies the world's submissions and records into
the nodes' inboxes under the home (the world, the LEs' outbox, is never changed).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from genomlab.config import GenomlabConfig
from genomlab.errors import ConflictError, NotFoundError, ValidationFailed
from genomlab.hail_session import HailModule
from genomlab.institution import Institution
from genomlab.node_approval import check_node_approved, get_platform_node_status
from genomlab.strict_json import JsonRefused, load_strict_json

if TYPE_CHECKING:
    from genomlab.clinical_node.intake import FileOutcome
    from genomlab.messages import PseudonymService, SignedDocument
    from genomlab.node_approval import NodeStatusSource
    from genomlab.trust_center.service import TrustCenter

BOOK_NAME = "case_book.json"
REDACTED_TAN = "0" * 64
"""What a deleted TAN becomes in an archived input (grzctl's redaction)."""
REDACTED_PATIENT = "Patient/redacted"
"""What the LE's patient reference (its Arbeitsnummer) becomes in an archived input."""
DELIVERED_STATES = ("reported", "qc_selected", "finished")
"""Item states after which the node's Prüfbericht was answered (delivery confirmed)."""


class CaseBook:
    """A hospital's (LE's) book: the TANs it sent, each with its own case label (0600 JSON).

    The LE needs it to match a Meldebestätigung (which names the TAN) to its case; it deletes
    a TAN's entries once the complete Meldebestätigung arrived (:meth:`delete_tan`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> book = CaseBook(pathlib.Path(tempfile.mkdtemp()) / "book.json")
    >>> book.add({"ab": "AN-1", "ab:S00003": "AN-2", "cd": "AN-3"}); book.lookup("AB")
    'AN-1'
    >>> book.delete_tan("ab"), sorted(book.entries)
    (2, ['cd'])
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, str] = (json.loads(path.read_text()) if path.exists() else {})

    def lookup(self, reference: str) -> str:
        try:
            return self.entries[reference.lower()]
        except KeyError:
            raise NotFoundError("no case for this submission reference "
                                f"({reference[:8]}…)") from None

    def add(self, entries: dict[str, str]) -> None:
        """Add entries and save (temp file + rename, 0600)."""
        self.entries.update({k.lower(): v for k, v in entries.items()})
        self._save()

    def delete_tan(self, tan: str) -> int:
        """Delete the TAN and its relatives' references (``<tan>:…``); returns how many."""
        tan = tan.lower()
        gone = [k for k in self.entries if k == tan or k.startswith(f"{tan}:")]
        for key in gone:
            del self.entries[key]
        if gone:
            self._save()
        return len(gone)

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(self.entries, handle, sort_keys=True)
        os.replace(tmp, self.path)


def get_case_book(config: GenomlabConfig, le_ik: str) -> CaseBook:
    """Hospital ``le_ik``'s case book (``<home>/hospitals/<IK>/case_book.json``)."""
    return CaseBook(config.home / "hospitals" / le_ik / BOOK_NAME)


def get_pseudonym_service(config: GenomlabConfig) -> TrustCenter:
    """The trust centre of this home: the nodes present the submission's own TAN to it."""
    from genomlab.trust_center.service import TrustCenter

    return TrustCenter(config)


def request_world_case_numbers(config: GenomlabConfig, world: Path) -> int:
    """Let the world's hospitals register each donor's TAN with the trust centre (once).

    The index donor's reference is the submission's tanG (with the tanC of its clinical record
    for an initial submission), a relative's ``<tanG>:<donorPseudonym>``; the hospital notes
    each in its book with the donor's Arbeitsnummer. A TAN the trust centre already knows (a
    rerun, or one already delivered and deleted) is skipped. Returns the references added.
    """
    from genomlab.trust_center.service import TrustCenter

    truth = json.loads((world / "truth.json").read_text())
    identity: dict[str, dict[str, str]] = {}
    for tsv in sorted((world / "hospitals").glob("*/case_numbers_request.tsv")):
        with tsv.open(newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                identity[row["sample"]] = row
    tan_c = {s["sample"]: s.get("tan_c") for s in truth["samples"]}
    tc = TrustCenter(config)
    n_added = 0
    for sub in truth["submissions"]:
        for sample in sub["samples"]:
            index = sample == sub["index_sample"]
            reference = sub["tan_g"] if index else f"{sub['tan_g']}:{sample}"
            person = identity[sample]
            ik = person["hospital_ik"]
            book = get_case_book(config, ik)
            if reference.lower() in book.entries:
                continue
            clinical = (str(tan_c[sample]) if index and sub["type"] == "initial"
                        and tan_c.get(sample) else None)
            try:
                tc.register_case_numbers(
                    kvnr=person["kvnr_unchangeable"], arbeitsnummer=person["arbeitsnummer"],
                    le_ik=ik, le_name=person["hospital_name"], actor=f"le:{ik}",
                    genomic=reference, clinical=clinical,
                    submission_type=sub["type"] if sub["type"] in (
                        "initial", "followup", "addition", "correction") else "initial")
            except ConflictError:
                continue  # registered by an earlier run (maybe delivered and deleted since)
            book.add({reference: person["arbeitsnummer"],
                      **({clinical: person["arbeitsnummer"]} if clinical else {})})
            n_added += 1 + (clinical is not None)
    return n_added


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


Receive = Callable[[dict[str, Any]], "SignedDocument"]
"""Hands a Prüfbericht to the platform and returns its signed Meldebestätigung."""


def make_platform_reporter(config: GenomlabConfig, node_id: str, *,
                           receive: Receive | None = None) -> Callable[[dict[str, Any]], str]:
    """A reporter for ``node_id``: Prüfbericht → platform → Meldebestätigung filed for the LE.

    ``receive`` is how the Prüfbericht reaches the platform: by default in-process
    (:func:`genomlab.platform.confirmations.receive_pruefbericht`, actor ``node:<id>``); a node
    service passes :meth:`genomlab.clients.platform.PruefberichtClient.receive_pruefbericht`
    (HTTPS with the node's own client; the platform records the client id). A complete
    Meldebestätigung ends the case number's life at the hospital: the LE files it
    and deletes the TAN from its :class:`CaseBook` (an incomplete one, for a submission that
    failed QC, leaves the TAN for the corrected resubmission).
    """
    from genomlab.crashpoints import crashpoint
    from genomlab.platform.confirmations import confirmation_bytes, receive_pruefbericht

    def receive_here(pruefbericht: dict[str, Any]) -> SignedDocument:
        return receive_pruefbericht(config, node_id, pruefbericht, actor=f"node:{node_id}")

    def report(pruefbericht: dict[str, Any]) -> str:
        document = (receive or receive_here)(pruefbericht)
        crashpoint("node.confirmation_received")  # issued by the platform, not yet filed
        body = document.body
        hospital = config.home / "hospitals" / str(body["submitter_id"])
        folder = get_writable_folder(hospital / "meldebestaetigungen")
        if folder is None:  # a separated node cannot write the hospitals' folder: its outbox
            folder = get_outbox(config, node_id, str(body["submitter_id"]))
            folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{body['confirmation_id']}.json"
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(confirmation_bytes(document))
        os.replace(tmp, target)
        if body["complete"] and folder.parent == hospital:
            get_case_book(config, str(body["submitter_id"])).delete_tan(str(body["tan"]))
        return str(body["confirmation_id"])

    return report


NodeKindName = Literal["grz", "kdk"]


def get_writable_folder(folder: Path) -> Path | None:
    """``folder`` (made if missing) if this process may write into it, else ``None``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except PermissionError:
        return None
    return folder if os.access(folder, os.W_OK | os.X_OK) else None


def get_outbox(config: GenomlabConfig, node_id: str, le_ik: str) -> Path:
    """Where a node's service files the Meldebestätigungen for LE ``le_ik`` when it may not
    write the hospitals' folder (a separated deployment): ``<node dir>/outbox/<IK>/
    meldebestaetigungen``; the LE collects them from there and then deletes the TAN from its
    own case book."""
    from genomlab.platform.nodes import get_node_kind

    kind = get_node_kind(node_id)
    return (Institution(config, kind, node_id).directory
            / "outbox" / le_ik / "meldebestaetigungen")


def get_inbox(config: GenomlabConfig, kind: NodeKindName, node_id: str) -> Path:
    """The node's inbox: where LEs put what they send it (``<node dir>/inbox``)."""
    return Institution(config, kind, node_id).directory / "inbox"


def get_archive(config: GenomlabConfig, kind: NodeKindName, node_id: str) -> Path:
    """The node's archive of delivered inputs, their TAN redacted (``<node dir>/archive``)."""
    return Institution(config, kind, node_id).directory / "archive"


def redact_patient_references(value: Any) -> Any:
    """``value`` with every FHIR ``{"reference": "Patient/…"}`` replaced by
    :data:`REDACTED_PATIENT`: the research consents in BfArM's GRZ metadata and KDK records name
    the patient by the LE's Arbeitsnummer, which the node needs no longer once it stored the data.

    Examples
    --------
    >>> redact_patient_references({"consents": [{"patient": {"reference": "Patient/AN-1"}}]})
    {'consents': [{'patient': {'reference': 'Patient/redacted'}}]}
    """
    if isinstance(value, dict):
        return {key: (REDACTED_PATIENT if key == "reference" and isinstance(item, str)
                      and item.startswith("Patient/") else redact_patient_references(item))
                for key, item in value.items()}
    if isinstance(value, list):
        return [redact_patient_references(item) for item in value]
    return value


def _write_redacted(source: Path, target: Path, raw: Any, tan: str) -> None:
    """Write ``raw`` (the input with its TAN field already zeroed) to ``target`` (atomic, no
    byte of ``tan`` left), then remove ``source``."""
    data = json.dumps(raw, indent=2, ensure_ascii=False).encode() + b"\n"
    if tan.lower().encode() in data.lower():
        raise ValidationFailed(f"{source}: the TAN occurs outside its field; not archived")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o600)
    os.replace(tmp, target)


def archive_delivered(config: GenomlabConfig, kind: NodeKindName, node_id: str) -> int:
    """Redact the TAN of every delivered input in the node's inbox and move it to the archive.

    Delivered: the node's item is ``reported`` or later (delivery confirmed to the trust centre,
    Prüfbericht answered). A GRZ folder keeps its files and gets ``submission.tanG`` zeroed in
    ``metadata/metadata.json`` (``archive/<inbox id>/``); a KDK record gets ``metaData.tanC``
    zeroed and is named by its record id (the inbox name may carry TAN digits). Inputs that
    failed stay in the inbox (their TAN is still the LE's for a resubmission). The inputs'
    patient references (the LE's Arbeitsnummer in their research consents) are redacted too
    (:func:`redact_patient_references`). Returns how many
    inputs were archived.
    """
    inbox, archive = get_inbox(config, kind, node_id), get_archive(config, kind, node_id)
    if not inbox.is_dir():
        return 0
    n = 0
    if kind == "grz":
        from genomlab.genome_center.intake import GenomeCenter

        grz = GenomeCenter(config, node_id)
        for folder in sorted(p for p in inbox.iterdir() if (p / "metadata").is_dir()):
            if grz.get_state(folder.name) not in DELIVERED_STATES:
                continue
            meta = folder / "metadata" / "metadata.json"
            raw = read_sent_json(meta)
            tan = str(raw["submission"]["tanG"])
            raw["submission"]["tanG"] = REDACTED_TAN
            _write_redacted(meta, meta, redact_patient_references(raw), tan)
            archive.mkdir(parents=True, exist_ok=True)
            os.replace(folder, archive / folder.name)
            n += 1
        return n
    from genomlab.clinical_node.intake import ClinicalNode, read_tan_c

    kdk = ClinicalNode(config, node_id)
    for path in sorted(inbox.glob("*.json")):
        raw = read_sent_json(path)
        try:
            tan = read_tan_c(raw, path.name)
        except ValidationFailed:
            continue
        record_id = kdk.get_record_id(tan)
        if kdk.get_state(record_id) not in DELIVERED_STATES:
            continue
        raw["metaData"]["tanC"] = REDACTED_TAN
        _write_redacted(path, archive / f"{record_id}.json", redact_patient_references(raw), tan)
        path.unlink()
        n += 1
    return n


def _copy_owner_only(source: Path, target: Path) -> None:
    """Copy a file or folder into a node's inbox, owner-only (folders 0700, files 0600)
    whatever the modes of the world's files: an inbox holds what a hospital sent."""
    if source.is_dir():
        shutil.copytree(source, target, copy_function=shutil.copyfile)
        for path in [target, *target.rglob("*")]:
            path.chmod(0o700 if path.is_dir() else 0o600)
    else:
        shutil.copyfile(source, target)
        target.chmod(0o600)


def upload_world_inputs(config: GenomlabConfig, world: Path, *,
                        grz: bool = True) -> dict[str, list[Path]]:
    """Copy the world's submissions and records into their nodes' inboxes (the LEs' upload).

    Bad submissions go to the inbox of the GRZ their original was sent to. An input already in
    the inbox or archived there is not copied again. Returns node id → its inbox inputs.
    ``grz=False``: the KDK records only (the GRZs' submissions go the official way,
    :mod:`genomlab.intake.official`).
    """
    from genomlab.clinical_node.intake import ClinicalNode, read_tan_c

    truth = json.loads((world / "truth.json").read_text())
    grz_of = {s["submission_id"]: s["grz"] for s in truth["submissions"]}
    sent: list[tuple[str, Path]] = [(s["grz"], world / s["path"]) for s in truth["submissions"]]
    sent += [(grz_of[bad["derived_from"]], world / bad["path"])
             for bad in truth["bad_submissions"]]
    if not grz:
        sent = []
    for node, folder in sent:
        inbox, archive = get_inbox(config, "grz", node), get_archive(config, "grz", node)
        if not (inbox / folder.name).exists() and not (archive / folder.name).exists():
            inbox.mkdir(parents=True, exist_ok=True)
            _copy_owner_only(folder, inbox / folder.name)
    for node_dir in sorted((world / "kdk").iterdir()):
        node = node_dir.name
        inbox, archive = get_inbox(config, "kdk", node), get_archive(config, "kdk", node)
        kdk = ClinicalNode(config, node)
        for path in sorted((node_dir / "records").glob("*.json")):
            record_id = kdk.get_record_id(read_tan_c(read_sent_json(path), path.name))
            if not (inbox / path.name).exists() and not (archive / f"{record_id}.json").exists():
                inbox.mkdir(parents=True, exist_ok=True)
                _copy_owner_only(path, inbox / path.name)
    return {**{node: sorted(get_inbox(config, "grz", node).iterdir())
               for node in sorted({node for node, _ in sent})},
            **{d.name: sorted(get_inbox(config, "kdk", d.name).glob("*.json"))
               for d in sorted((world / "kdk").iterdir())}}


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


def list_inbox_inputs(config: GenomlabConfig, kind: NodeKindName, node_id: str) -> list[Path]:
    """What waits in the node's inbox: submission folders (GRZ) or record files (KDK)."""
    inbox = get_inbox(config, kind, node_id)
    if not inbox.is_dir():
        return []
    if kind == "grz":
        return sorted(p for p in inbox.iterdir() if (p / "metadata").is_dir())
    return sorted(inbox.glob("*.json"))


def run_inbox_intake(config: GenomlabConfig, kind: NodeKindName, node_id: str, *,
                     pseudonyms: PseudonymService, reporter: Callable[[dict[str, Any]], str],
                     node_status: NodeStatusSource,
                     hail: Callable[[], HailModule] | None = None,
                     progress: Callable[[str], None] = lambda _message: None) -> dict[str, Any]:
    """One node's intake of its inbox, then its delivered inputs archived (TAN redacted).

    What a node's service runs (:mod:`genomlab.services.node_api`); the links to the other
    institutions are the caller's: ``pseudonyms`` (the trust centre), ``reporter`` (the
    platform, :func:`make_platform_reporter`) and ``node_status`` (the platform's word on this
    node, asked first: a node not approved now records and stores nothing). Returns a JSON-ready
    summary: the GRZ's :class:`~genomlab.genome_center.intake.IntakeSummary` fields or the KDK's
    outcome per input file (by name), and ``archived``.
    """
    inputs = list_inbox_inputs(config, kind, node_id)
    summary: dict[str, Any] = {"node_id": node_id, "inputs": len(inputs)}
    if kind == "grz":
        from genomlab.genome_center.intake import GenomeCenter

        grz = GenomeCenter(config, node_id)
        if inputs:
            result = grz.submit(inputs, pseudonyms, reporter=reporter,
                                hail=hail or _hail_starter(config), progress=progress,
                                node_status=node_status)
            summary.update(states=dict(result.states), errors=dict(result.errors),
                           refused={Path(k).name: v for k, v in result.refused.items()},
                           batches=list(result.batches))
        else:
            grz.check_node_approved(node_status)
    else:
        from genomlab.clinical_node.intake import ClinicalNode

        kdk = ClinicalNode(config, node_id)
        if inputs:
            outcomes = kdk.submit(inputs, pseudonyms, reporter=reporter, node_status=node_status)
            summary["records"] = {Path(path).name: {"record_id": o.record_id, "state": o.state,
                                                    **({"message": o.message} if o.message
                                                       else {})}
                                  for path, o in outcomes.items()}
        else:
            kdk.check_node_approved(node_status)
    summary["archived"] = archive_delivered(config, kind, node_id)
    return summary


def get_world_nodes(world: Path, kind: NodeKindName) -> list[str]:
    """The world's GRZs or KDKs (``truth.json``'s ``institutions``, in its order), as BfArM
    approves them."""
    truth = json.loads((world / "truth.json").read_text())
    return [str(node) for node in truth["institutions"][kind]]


def register_world_nodes(config: GenomlabConfig, world: Path, *, actor: str) -> list[str]:
    """Apply for and approve the world's GRZs and KDKs, and the home's data service, at the
    platform (idempotent; a suspension is not undone). Returns the GRZs and KDKs."""
    from genomlab.data_service.approval import register_data_service
    from genomlab.platform.nodes import NodeRegistry

    registry = NodeRegistry(config)
    nodes = get_world_nodes(world, "grz") + get_world_nodes(world, "kdk")
    for node in nodes:
        registry.ensure_approved(node, name=f"synthetic {node}", actor=actor)
    register_data_service(config, actor=actor)  # BfArM approves data services too
    return nodes


def run_world_intake(config: GenomlabConfig, world: Path, *,
                     progress: Callable[[str], None] = print,
                     hail: Callable[[], HailModule] | None = None,
                     grz: bool = True, kdk: bool = True) -> dict[str, Any]:
    """The whole synthetic world through intake: nodes, case numbers, GRZ and KDK submissions.

    The hospitals register their TANs and upload copies of their inputs into the nodes' inboxes
    (:func:`upload_world_inputs`); each node takes its inbox in and archives what was delivered,
    its TAN redacted (:func:`archive_delivered`). Idempotent. ``grz=False`` takes the KDK records
    only (the GRZs' part on BfArM's tools: :func:`genomlab.intake.official.
    run_world_official_intake`). ``kdk=False`` puts the KDK records into the KDKs' inboxes and
    leaves them there, for each KDK's service to take in
    (:meth:`genomlab.clients.nodes.NodeOperatorClient.run_intake`).
    """
    register_world_nodes(config, world, actor="genomlab-intake")
    request_world_case_numbers(config, world)
    record_world_consents(config, world)
    inboxes = upload_world_inputs(config, world, grz=grz)
    results: dict[str, Any] = {}
    start_hail = hail or _hail_starter(config)
    kdk_inputs: list[Path] = []
    for node, inputs in sorted(inboxes.items()):
        if node.startswith("GRZ"):
            if inputs:
                results.update(run_grz_intake(config, inputs, node_id=node, progress=progress,
                                              hail=start_hail))
            archive_delivered(config, "grz", node)
        else:
            kdk_inputs += inputs
    if not kdk:
        return results
    if kdk_inputs:
        results.update(run_kdk_intake(config, kdk_inputs))
    for node in sorted(n for n in inboxes if n.startswith("KDK")):
        archive_delivered(config, "kdk", node)
    return results
