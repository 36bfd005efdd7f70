"""Release for an approved application: verify, select, link, extract, pseudonymise, write.

:func:`release_application` does, each step an event in the data service's ledger:

1. fetch the platform's signed approval and verify it with the platform's *public* key only
   (in force today, not revoked/closed/expired); a refusal is recorded as ``release.refused``;
2. select each node's datasets that meet the criteria (:mod:`~genomlab.data_service.selection`);
3. ask the trust centre for a linkage map (it drops persons without research consent) and
   verify the map's signed receipt with the trust centre's public key;
4. individual level: take only the requested clinical fields from each KDK and the cohort's
   genotypes from each GRZ (filtered at the node), replace every dataset pseudonym by the
   project pseudonym, outer-join the centres on variants; aggregated level: only suppressed
   aggregate tables (allele counts/frequencies overall and by sex as the KDKs record it,
   phenotype counts);
5. write everything into a staging folder inside the workspace, hash it, add ``manifest.json``
   and move it into place as ``<workspace>/release`` (atomic);
6. persons of the project's previous release that are no longer in the cohort (research consent
   withdrawn, data withdrawn) are named in ``release.withdrawal_notified`` and in a notice file
   ``<workspace>/notices/withdrawal-<release id>.json`` asking the project to delete their data.

Content hashes: Parquet files are hashed as written (polars writes them deterministically);
``genotypes.mt`` through :func:`~genomlab.data_service.genotypes.compute_genotype_digest`. The
``content_digest`` of the manifest covers all data files, so the same inputs give the same
digest; the manifest's release id and time differ between runs.
"""

from __future__ import annotations

import json
import platform as python_platform
import secrets
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl

from genomlab import clock
from genomlab.config import GenomlabConfig
from genomlab.crashpoints import crashpoint
from genomlab.data_service.approval import check_data_service_approved
from genomlab.data_service.files import (
    compute_digest,
    compute_file_sha256,
    make_staging_dir,
    replace_dir,
)
from genomlab.data_service.genotypes import (
    compute_allele_frequencies,
    compute_genotype_digest,
    compute_phenotype_counts,
    get_shared_entry_fields,
    relabel_columns,
    union_centres,
)
from genomlab.data_service.nodes import (
    CLINICAL_ATTRIBUTES,
    GENOME_ATTRIBUTES,
    ClinicalNodeReader,
    GenomeNodeReader,
)
from genomlab.data_service.selection import (
    check_selectable,
    filter_datasets,
    get_node_attributes,
    select_cohort_rows,
)
from genomlab.data_service.store import get_released_persons, open_data_service_ledger
from genomlab.errors import GenomlabError, NotFoundError, PermissionDenied, ValidationFailed
from genomlab.hail_session import HailModule
from genomlab.messages import ApprovalGrant, SignedDocument
from genomlab.node_approval import NodeStatusSource
from genomlab.platform.applications import get_signed_approval, get_signed_revocation
from genomlab.trust_center.approvals import (
    check_approval,
    check_revocation,
    load_platform_approval_key,
)
from genomlab.trust_center.service import LinkageMap, verify_linkage_map
from genomlab.versions import get_installed_versions
from genomlab.workspace.crypt4gh_release import (
    data_service_release_key,
    encrypt_release_tree,
    ensure_project_key,
)

ACTOR = "data_service"
SOFTWARE = ("genomlab", "hail", "polars", "pyarrow")
VCF_NAME = "genotypes.vcf.bgz"


class LinkageService(Protocol):
    """The trust centre as the data service sees it (``TrustCenter`` implements it)."""

    def issue_linkage_map(self, approval: SignedDocument, *, actor: str,
                          genome_pseudonyms: Sequence[str] | np.ndarray = (),
                          clinical_pseudonyms: Sequence[str] | np.ndarray = ()) -> LinkageMap:
        ...


@dataclass(frozen=True)
class ReleaseResult:
    """What a release wrote: its folder, manifest and the persons that left the cohort."""

    release_id: str
    path: Path
    manifest: dict[str, Any]
    withdrawn: tuple[str, ...]


def _today() -> date:
    return clock.today()


def load_trust_center_linkage_key(config: GenomlabConfig) -> Any:
    """The trust centre's public key for linkage-map receipts."""
    from genomlab.institution import Institution
    from genomlab.keys import load_public_key

    path = Institution(config, "trust_center").keys().public_key_path("linkage-map")
    if not path.exists():
        raise NotFoundError(f"{path}: the trust centre's public linkage-map key is missing")
    return load_public_key(path.read_bytes())


def verify_release_approval(config: GenomlabConfig, application_id: str, *,
                            today: date | None = None) -> tuple[SignedDocument, ApprovalGrant]:
    """The signed approval and its grant if the application may be released; else raise.

    Refusals (no approval, forged, not yet or no longer valid, revoked, closed or expired) are
    recorded as ``release.refused`` before the error is raised.

    Examples
    --------
    >>> import tempfile
    >>> from genomlab.config import load_config
    >>> from genomlab.platform.applications.demo import run_applications_demo
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> demo = run_applications_demo(config)
    >>> document, grant = verify_release_approval(config, demo.application_id)
    >>> grant.project_id == demo.project_id, grant.data_categories
    (True, ('genomic', 'clinical'))
    >>> verify_release_approval(config, "APP-999999")
    Traceback (most recent call last):
    ...
    genomlab.errors.PermissionDenied: application APP-999999: not approved (no signed approval)
    """
    try:
        try:
            document = get_signed_approval(config, application_id)
        except NotFoundError as exc:
            raise PermissionDenied(f"application {application_id}: not approved (no signed "
                                   "approval)") from exc
        key = load_platform_approval_key(config)
        grant = check_approval(document, key, today=today or _today())
        if grant.application_id != application_id:
            raise PermissionDenied(f"application {application_id}: the approval names "
                                   f"{grant.application_id}")
        revocation = get_signed_revocation(config, application_id)
        if revocation is not None:
            body = check_revocation(revocation, key)
            raise PermissionDenied(f"application {application_id}: approval ended at "
                                   f"{body['revoked_at']} (revoked, closed or expired)")
    except GenomlabError as exc:
        open_data_service_ledger(config).append(
            "release.refused", {"application_id": application_id, "reason": str(exc)},
            actor=ACTOR, stream=f"application:{application_id}")
        raise
    return document, grant


def _clinical_table(nodes: Sequence[ClinicalNodeReader], cohort: pl.DataFrame,
                    fields: Sequence[str]) -> pl.DataFrame:
    """Only the requested fields, keyed by project pseudonym ``s``, from each KDK."""
    parts = []
    for node in nodes:
        rows = cohort.filter(pl.col("clinical_node") == node.node_id)
        if rows.is_empty():
            continue
        frame = node.read_fields(rows["clinical_pseudonym"].to_list(), list(fields))
        extra = set(frame.columns) - {"pseudonym", *fields}
        if extra:
            raise ValidationFailed(f"{node.node_id}: sent unrequested field {sorted(extra)[0]!r}")
        mapping = rows.select(pl.col("clinical_pseudonym").alias("pseudonym"),
                              pl.col("project_pseudonym").alias("s"))
        parts.append(frame.join(mapping, on="pseudonym", how="inner")
                     .select("s", *fields))
    if not parts:
        return pl.DataFrame(schema={"s": pl.String})
    return pl.concat(parts, how="diagonal_relaxed").sort("s")


def _genotypes(hl: HailModule, nodes: Sequence[GenomeNodeReader], cohort: pl.DataFrame
               ) -> tuple[Any | None, dict[str, dict[str, int]]]:
    parts = []
    counts: dict[str, dict[str, int]] = {}
    for node in nodes:
        rows = cohort.filter(pl.col("genome_node") == node.node_id)
        if rows.is_empty():
            continue
        mt = node.export_cohort_genotypes(hl, rows["genome_pseudonym"].to_list())
        parts.append((node.node_id, mt, dict(zip(rows["genome_pseudonym"].to_list(),
                                                 rows["project_pseudonym"].to_list(),
                                                 strict=True))))
    if not parts:
        return None, counts
    fields = get_shared_entry_fields([mt for _, mt, _ in parts])
    relabelled = []
    for node_id, mt, project_of in parts:
        mt = relabel_columns(hl, mt, project_of, fields)
        n_variants, n_samples = mt.count()
        counts[node_id] = {"n_samples": n_samples, "n_variants": n_variants}
        relabelled.append(mt)
    return union_centres(hl, relabelled), counts


def _software_versions() -> dict[str, str]:
    return {"python": python_platform.python_version(), **get_installed_versions(SOFTWARE)}


def _write_parquet(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path, statistics=False)


def _notify_withdrawals(config: GenomlabConfig, grant: ApprovalGrant, release_id: str,
                        withdrawn: list[str], on: date) -> None:
    if not withdrawn:
        return
    notices = config.workspace_dir(grant.project_id) / "notices"
    notices.mkdir(parents=True, exist_ok=True)
    notice = notices / f"withdrawal-{release_id}.json"
    text = json.dumps({
        "project_id": grant.project_id, "application_id": grant.application_id,
        "release_id": release_id, "date": on.isoformat(),
        "message": "These persons are no longer part of the project's data (research consent "
                   "or data withdrawn). Delete their data and derived results.",
        "project_pseudonyms": withdrawn}, indent=1)
    staged = notice.with_suffix(".json.tmp")
    staged.write_text(text)
    staged.replace(notice)
    open_data_service_ledger(config).append("release.withdrawal_notified", {
        "project_id": grant.project_id, "release_id": release_id,
        "project_pseudonyms": withdrawn, "notice": str(notice)},
        actor=ACTOR, stream=f"application:{grant.application_id}")


def release_application(config: GenomlabConfig, application_id: str, *,
                        genome_nodes: Sequence[GenomeNodeReader],
                        clinical_nodes: Sequence[ClinicalNodeReader],
                        linkage_service: LinkageService, hl: HailModule | None = None,
                        today: date | None = None,
                        progress: Callable[[str], None] | None = None,
                        node_status: NodeStatusSource | None = None) -> ReleaseResult:
    """Release an approved application's data into its project's workspace.

    A data service the platform does not approve now (``node_status``, default this home's
    platform store) is refused first, before anything is verified, recorded or written
    (:func:`~genomlab.data_service.approval.check_data_service_approved`).

    Parameters
    ----------
    genome_nodes, clinical_nodes:
        The GRZs and KDKs (their read APIs, see :mod:`genomlab.data_service.nodes`).
    linkage_service:
        The trust centre (``genomlab.trust_center.TrustCenter(config)``).
    hl:
        The Hail module (started with :func:`genomlab.hail_session.init_hail`); needed when
        genomic data are approved.

    Examples
    --------
    >>> result = release_application(config, "APP-000001", genome_nodes=grzs,
    ...                              clinical_nodes=kdks, linkage_service=tc, hl=hl)
    ... # doctest: +SKIP
    >>> sorted(p.name for p in result.path.iterdir())  # doctest: +SKIP
    ['clinical', 'genotypes.mt', 'manifest.json']
    """
    check_data_service_approved(config, node_status)
    step = progress or (lambda _message: None)
    today = today or _today()
    step("verifying the approval")
    document, grant = verify_release_approval(config, application_id, today=today)
    categories = grant.data_categories
    ledger = open_data_service_ledger(config)
    try:
        check_selectable(grant.criteria, categories, application_id)
    except GenomlabError as exc:
        ledger.append("release.refused", {"application_id": application_id, "reason": str(exc)},
                      actor=ACTOR, stream=f"application:{application_id}")
        raise
    if "genomic" in categories and hl is None:
        raise GenomlabError(f"application {application_id}: genomic release needs Hail")
    release_id = secrets.token_hex(8)
    ledger.append("release.started", {"release_id": release_id, "application_id": application_id,
                                      "project_id": grant.project_id},
                  actor=ACTOR, stream=f"application:{application_id}")

    step("selecting datasets that meet the criteria")
    genome_attrs = filter_datasets(get_node_attributes(genome_nodes, GENOME_ATTRIBUTES),
                                   grant.criteria, side="genomic")
    clinical_attrs = filter_datasets(get_node_attributes(clinical_nodes, CLINICAL_ATTRIBUTES),
                                     grant.criteria, side="clinical")
    step("obtaining the linkage map from the trust centre")
    linkage = linkage_service.issue_linkage_map(
        document, actor=ACTOR,
        genome_pseudonyms=genome_attrs["pseudonym"].to_list() if "genomic" in categories else [],
        clinical_pseudonyms=clinical_attrs["pseudonym"].to_list()
        if "clinical" in categories else [])
    verify_linkage_map(linkage, load_trust_center_linkage_key(config))
    linked = linkage.to_polars()
    keep = select_cohort_rows(linked["genome_pseudonym"].fill_null("").to_numpy(),
                              linked["clinical_pseudonym"].fill_null("").to_numpy(),
                              genome_matches=set(genome_attrs["pseudonym"].to_list()),
                              clinical_matches=set(clinical_attrs["pseudonym"].to_list()),
                              criteria=grant.criteria, categories=categories)
    genome_node = dict(zip(genome_attrs["pseudonym"].to_list(), genome_attrs["node"].to_list(),
                           strict=True))
    clinical_node = dict(zip(clinical_attrs["pseudonym"].to_list(),
                             clinical_attrs["node"].to_list(), strict=True))
    cohort = linked.filter(pl.Series(keep)).with_columns(
        genome_node=pl.col("genome_pseudonym").replace_strict(genome_node, default=None),
        clinical_node=pl.col("clinical_pseudonym").replace_strict(clinical_node, default=None),
    ).sort("project_pseudonym")
    ledger.append("release.linked", {
        "release_id": release_id, "map_id": linkage.map_id, "map_digest": linkage.digest,
        "n_genome_candidates": genome_attrs.height, "n_clinical_candidates": clinical_attrs.height,
        "n_linked": len(linkage), "n_excluded_no_consent": linkage.n_excluded_no_consent,
        "n_cohort": cohort.height}, actor=ACTOR, stream=f"application:{application_id}")

    target = config.workspace_dir(grant.project_id) / "release"
    staging = make_staging_dir(target)
    try:
        sources = _write_release(config, grant, cohort, staging, genome_nodes, clinical_nodes,
                                 hl, step)
        hashes = sources.pop("_hashes")
        if grant.level == "individual":
            _export_release_vcf(hl, staging)
        encryption = _encrypt_individual_level(config, grant, staging)
        manifest = {
            "release_id": release_id, "application_id": application_id,
            "project_id": grant.project_id, "level": grant.level,
            "data_categories": list(categories), "criteria": grant.criteria.model_dump(),
            "clinical_fields": list(grant.clinical_fields),
            "released_at": clock.now().isoformat(timespec="seconds"),
            "counts": {"n_persons": cohort.height, "n_linked": len(linkage),
                       "n_excluded_no_consent": linkage.n_excluded_no_consent},
            "sources": sources, "software": _software_versions(),
            "content_hashes": hashes, "content_digest": compute_digest(hashes),
            **({"encryption": encryption} if encryption else {}),
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
        manifest_sha = compute_file_sha256(staging / "manifest.json")
        crashpoint("release.staged")
        replace_dir(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    crashpoint("release.replaced")

    persons = cohort["project_pseudonym"].to_list()
    with ledger.transaction() as tx:
        previous = get_released_persons(tx.conn, grant.project_id)
        tx.append("release.completed", {
            "release_id": release_id, "application_id": application_id,
            "project_id": grant.project_id, "level": grant.level, "n_persons": len(persons),
            "persons": persons, "manifest_sha256": manifest_sha,
            "content_digest": manifest["content_digest"]},
            actor=ACTOR, stream=f"application:{application_id}")
    withdrawn = sorted(set(previous) - set(persons))
    _notify_withdrawals(config, grant, release_id, withdrawn, today)
    return ReleaseResult(release_id, target, manifest, tuple(withdrawn))


def _write_release(config: GenomlabConfig, grant: ApprovalGrant, cohort: pl.DataFrame,
                   staging: Path, genome_nodes: Sequence[GenomeNodeReader],
                   clinical_nodes: Sequence[ClinicalNodeReader], hl: HailModule | None,
                   step: Callable[[str], None]) -> dict[str, Any]:
    """Write the data files of one release into ``staging``; return sources and hashes."""
    disclosure = config.disclosure
    hashes: dict[str, str] = {}
    sources: dict[str, Any] = {"genome_centres": {}, "clinical_nodes": {}}
    clinical = pl.DataFrame(schema={"s": pl.String})
    if "clinical" in grant.data_categories and grant.clinical_fields:
        step("reading the requested clinical fields from the clinical nodes")
        clinical = _clinical_table(clinical_nodes, cohort, grant.clinical_fields)
        sources["clinical_nodes"] = {
            node: {"n_records": int(n)} for node, n in
            cohort.drop_nulls("clinical_node").group_by("clinical_node").len().rows()}
    mt = None
    if "genomic" in grant.data_categories:
        assert hl is not None, "release_application refuses a genomic release without Hail"
        step("extracting the cohort's genotypes at the genome data centres")
        mt, sources["genome_centres"] = _genotypes(hl, genome_nodes, cohort)
    if grant.level == "individual":
        if clinical.width > 1:
            _write_parquet(clinical, staging / "clinical" / "persons.parquet")
            hashes["clinical/persons.parquet"] = compute_file_sha256(
                staging / "clinical" / "persons.parquet")
            crashpoint("release.staging")
        if mt is not None and hl is not None:
            step("writing genotypes.mt")
            mt.write(str(staging / "genotypes.mt"))
            mt = hl.read_matrix_table(str(staging / "genotypes.mt"))
            hashes["genotypes.mt"] = compute_genotype_digest(hl, mt, staging / ".canonical")
    else:
        step("computing suppressed aggregate tables")
        if mt is not None and hl is not None:
            sex = dict(zip(cohort["project_pseudonym"].to_list(),
                           _sex_of(cohort, clinical_nodes), strict=True))
            frequencies = compute_allele_frequencies(
                hl, mt, sex, min_allele_count=disclosure.min_allele_count,
                min_group_size=disclosure.min_group_size)
            _write_parquet(frequencies, staging / "aggregates" / "allele_frequencies.parquet")
        if clinical.width > 1:
            _write_parquet(compute_phenotype_counts(
                clinical, min_cell_count=disclosure.min_cell_count),
                staging / "aggregates" / "phenotype_counts.parquet")
        for path in sorted((staging / "aggregates").glob("*.parquet")):
            hashes[f"aggregates/{path.name}"] = compute_file_sha256(path)
    sources["_hashes"] = hashes
    return sources


def _encrypt_individual_level(config: GenomlabConfig, grant: ApprovalGrant,
                              staging: Path) -> dict[str, Any] | None:
    """Individual-level data files → one Crypt4GH file to the project's key (the manifest's
    ``encryption`` record); aggregate tables stay as they are
    (:mod:`genomlab.workspace.crypt4gh_release`)."""
    if grant.level != "individual":
        return None
    return encrypt_release_tree(staging, ensure_project_key(config, grant.project_id),
                                also_to=(data_service_release_key(config)[1],))


def _export_release_vcf(hl: HailModule | None, staging: Path) -> None:
    """``genotypes.vcf.bgz`` (+ ``.tbi``) beside ``genotypes.mt`` of an individual-level
    release: what htsget serves by region and ``bcftools view -r`` reads."""
    if hl is None or not (staging / "genotypes.mt").exists():
        return
    mt = hl.read_matrix_table(str(staging / "genotypes.mt"))
    hl.export_vcf(mt, str(staging / VCF_NAME), tabix=True)


def _sex_of(cohort: pl.DataFrame, clinical_nodes: Sequence[ClinicalNodeReader]) -> list[str]:
    """Each cohort member's sex as the clinical nodes record it (``unknown`` if none)."""
    known = get_node_attributes(clinical_nodes, CLINICAL_ATTRIBUTES).select("pseudonym", "sex")
    frame = cohort.select("clinical_pseudonym").join(
        known, left_on="clinical_pseudonym", right_on="pseudonym", how="left",
        maintain_order="left")
    return frame["sex"].fill_null("unknown").to_list()
