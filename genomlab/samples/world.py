"""Generate a complete synthetic world into a directory and load its ``truth.json`` back.

The layout is the world contract (see ``data_samples/README.md``): ``truth.json``,
``genotypes/`` (cohort and per-GRZ VCFs, ``cohort.fam``, ``samples.tsv``), ``submissions/``,
``hospitals/``, ``kdk/`` and ``reference_panel/`` (labelled ancestry reference, see
:mod:`genomlab.samples.reference_panel`). Independent random streams (``default_rng([seed, k])``)
feed the cohort, the genotypes, the phenotypes, the paperwork and the reference panel, so the same
seed gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genomlab.errors import GenomlabError
from genomlab.samples.clinical import write_bad_clinical_records, write_clinical_records
from genomlab.samples.cohort import GRZ_IDS, HOSPITALS, KDK_IDS, Cohort, build_cohort
from genomlab.samples.files import write_json, write_text
from genomlab.samples.genotypes import (
    CHR_X,
    HAP_ALT,
    HET,
    HOM_ALT,
    generate_chunk,
    get_chunks,
    get_variant_sites,
    get_world_genetics,
)
from genomlab.samples.paperwork import Paperwork, draw_paperwork, write_identity_inputs
from genomlab.samples.phenotypes import (
    HPO_ODDS_RATIOS,
    QUANT_BETAS,
    Phenotypes,
    compute_phenotypes,
)
from genomlab.samples.qc_reads import format_fasta, format_targets_bed, make_reference
from genomlab.samples.reference_panel import write_reference_panel
from genomlab.samples.submissions import (
    QcReads,
    SubmissionFiles,
    get_targeted,
    write_submissions,
)
from genomlab.samples.vcf import (
    BgzfVcfWriter,
    compress_bgzf,
    format_vcf_lines,
    get_line_prefixes,
    get_vcf_header,
)

GENERATOR_VERSION = "1"


@dataclass(frozen=True)
class WorldSummary:
    """What :func:`generate_world` wrote."""

    out_dir: Path
    seed: int
    n_patients: int
    n_samples: int
    n_variants: int
    n_submissions: int
    n_files: int


@dataclass
class _SubmissionSites:
    """The site subset that submission VCFs carry, collected during the genotype pass."""

    stride: int
    prefixes: list[bytes] = field(default_factory=list)
    cells: list[np.ndarray] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)


def _write_genotypes(out: Path, rng: np.random.Generator, cohort: Cohort, sites: Any,
                     genetics: Any, chunk_size: int, threads: int,
                     progress: Callable[[int], None] | None,
                     subset: _SubmissionSites) -> tuple[list[np.ndarray], np.ndarray]:
    names = [s.sample for s in cohort.samples]
    by_grz = {grz: np.array([i for i, s in enumerate(cohort.samples) if s.grz == grz])
              for grz in GRZ_IDS}
    by_grz = {grz: cols for grz, cols in by_grz.items() if len(cols)}
    geno = out / "genotypes"
    geno.mkdir(parents=True, exist_ok=True)
    writers = {"cohort": BgzfVcfWriter(geno / "cohort.vcf.bgz", names, threads=threads)}
    for grz, cols in by_grz.items():
        writers[grz] = BgzfVcfWriter(geno / f"{grz}.vcf.bgz", [names[i] for i in cols])
    planted: dict[int, np.ndarray] = {}
    freqs = np.empty((len(genetics.groups), len(sites)))
    for lo, hi in get_chunks(sites, chunk_size):
        chunk = generate_chunk(rng, sites, lo, hi, cohort, genetics)
        prefixes = get_line_prefixes(sites, lo, hi)
        writers["cohort"].write(format_vcf_lines(prefixes, chunk.cells))
        for grz, cols in by_grz.items():
            writers[grz].write(format_vcf_lines(prefixes, chunk.cells[:, cols]))
        planted.update(chunk.planted_dosage)
        freqs[:, lo:hi] = chunk.group_freqs
        keep = np.flatnonzero((np.arange(lo, hi) % subset.stride == 0)
                              | np.isin(np.arange(lo, hi), genetics.planted))
        subset.prefixes += [prefixes[k] for k in keep]
        subset.cells.append(chunk.cells[keep])
        subset.ids += [sites.variant_id(lo + int(k)) for k in keep]
        if progress is not None:
            progress(hi - lo)
    for writer in writers.values():
        writer.close()
    return [planted[int(v)] for v in genetics.planted], freqs


def _write_fam_and_tsv(out: Path, cohort: Cohort, pheno: Phenotypes) -> None:
    fam, tsv = [], ["sample\treported_sex\tfamily\tfather\tmother\tquant_trait\thpo_affected"
                    "\tdisease_type"]
    for s in cohort.samples:
        sex_code = "1" if s.reported_sex == "male" else "2"
        fam.append(f"{s.family}\t{s.sample}\t{s.declared_father or 0}\t{s.declared_mother or 0}"
                   f"\t{sex_code}\t-9")
        tsv.append("\t".join([
            s.sample, s.reported_sex, s.family, s.declared_father or "", s.declared_mother or "",
            f"{pheno.quant_trait[s.person]:.4f}", str(bool(pheno.hpo_affected[s.person])).lower(),
            cohort.submissions[s.submission].disease_type]))
    write_text(out / "genotypes" / "cohort.fam", "\n".join(fam) + "\n")
    write_text(out / "genotypes" / "samples.tsv", "\n".join(tsv) + "\n")


def _submission_files(cohort: Cohort, subset: _SubmissionSites) -> SubmissionFiles:
    cells = np.concatenate(subset.cells)
    vcf = {}
    for sub_i, sub in enumerate(cohort.submissions):
        names = [cohort.samples[i].sample for i in sub.samples]
        text = get_vcf_header(names) + format_vcf_lines(subset.prefixes, cells[:, sub.samples])
        vcf[sub_i] = compress_bgzf(text)
    bed = "".join(f"{vid.split(':')[0]}\t{int(vid.split(':')[1]) - 51}\t"
                  f"{int(vid.split(':')[1]) + 50}\n" for vid in subset.ids)
    return SubmissionFiles(vcf, bed.encode())


def _carried_by_index(cohort: Cohort, subset: _SubmissionSites) -> dict[int, list[str]]:
    state = np.concatenate(subset.cells) // 10000
    carries = (state == HET) | (state == HOM_ALT) | (state == HAP_ALT)
    return {sub.index: [subset.ids[k] for k in np.flatnonzero(carries[:, sub.index])]
            for sub in cohort.submissions}


def _truth(seed: int, n_patients: int, cohort: Cohort, sites: Any, genetics: Any,
           pheno: Phenotypes, paper: Paperwork, records: dict[int, tuple[str, str]]) -> dict:
    samples = []
    for i, s in enumerate(cohort.samples):
        person = cohort.persons[s.person]
        sub = cohort.submissions[s.submission]
        samples.append({
            "sample": s.sample, "person": person.person_id, "grz": s.grz, "kdk": s.kdk,
            "hospital_ik": s.hospital_ik, "submission_id": paper.submission_ids[s.submission],
            "relation": s.relation, "family": s.family, "reported_sex": s.reported_sex,
            "genetic_sex": person.genetic_sex, "ancestry": person.ancestry,
            "disease_type": sub.disease_type, "study_type": sub.study_type,
            "quant_trait": round(float(pheno.quant_trait[s.person]), 4),
            "hpo_affected": bool(pheno.hpo_affected[s.person]),
            "research_consent": paper.research_consent[i],
            "library_type": paper.library_type[i],
            "mean_depth": round(float(genetics.mean_depth[i]), 2),
            "arbeitsnummer": paper.arbeitsnummer[i], "kvnr": paper.kvnr[i],
            "tan_g": paper.tan_g[s.submission],
            **({"kdk_record": records[i][0], "tan_c": records[i][1]} if i in records else {}),
        })
    pedigree = [{"family": s.family, "child": s.sample, "father": s.declared_father,
                 "mother": s.declared_mother}
                for s in cohort.samples if s.declared_father or s.declared_mother]
    faults = dict(cohort.faults)
    faults["hwe_fail_variants"] = [sites.variant_id(int(v)) for v in genetics.hwe_fail]
    faults["call_rate_fail_variants"] = [sites.variant_id(int(v)) for v in genetics.call_rate_fail]
    true_pedigree = []
    for p in cohort.persons:
        if p.father is not None and p.mother is not None:
            true_pedigree.append({"child": p.person_id,
                                  "father": cohort.persons[p.father].person_id,
                                  "mother": cohort.persons[p.mother].person_id})
    return {
        "seed": seed, "n_patients": n_patients, "n_variants": len(sites),
        "n_samples": len(cohort.samples), "generator_version": GENERATOR_VERSION,
        "synthetic": "Generated by genomlab.samples; no real person is described.",
        "institutions": {"hospitals": [{"ik": ik, "name": name} for ik, name in HOSPITALS],
                         "grz": list(GRZ_IDS), "kdk": list(KDK_IDS)},
        "samples": samples, "pedigree": pedigree, "true_pedigree": true_pedigree,
        "faults": faults, "fault_parameters": {
            "clean_missing_rate": float(genetics.sample_missing.min()),
            "low_call_rate_missing_rate": float(genetics.sample_missing.max()),
            "call_rate_fail_variant_missing_rate": genetics.variant_missing,
            "contamination_fraction": genetics.contamination_fraction,
            "hwe_fail_variants": "every sample called heterozygous",
            "notes": "Contaminated samples show excess heterozygosity (het F about -0.2) and "
                     "inflate KING-robust kinship (to about 0.1 with others, more with each "
                     "other): remove them before inferring relatedness. Ancestry outliers have "
                     "high het F against pooled frequencies and are male."},
        "associations": pheno.associations,
        "consents": paper.consents, "bad_submissions": paper.bad_submissions,
        "submissions": paper.submissions_truth,
    }


def generate_world(out_dir: Path | str, *, n_patients: int = 60, n_variants: int = 5000,
                   seed: int = 1, chunk_size: int = 2000, threads: int = 2,
                   distant_share: float = 0.02, admixed_share: float = 0.0,
                   quant_betas: tuple[float, ...] = QUANT_BETAS, sites_seed: int | None = None,
                   progress: Callable[[int], None] | None = None,
                   detailed_qc_reads: bool = False) -> WorldSummary:
    """Generate a synthetic genomDE world (genotypes, submissions, records, truth) in ``out_dir``.

    Parameters
    ----------
    out_dir
        Target directory; must be empty or absent.
    n_patients
        Index patients (initial submissions); relatives and duplicates add samples.
    n_variants
        Sites in every VCF.
    seed
        Seed of every random draw: the same seed gives byte-identical files.
    chunk_size
        Sites generated at once (memory ~ chunk_size x samples x 40 bytes).
    threads
        bgzip threads for the cohort VCF.
    distant_share
        Share of index patients from the distant population (planted ancestry outliers).
    admixed_share
        Share of index patients who are admixed (AFR+EUR; also planted ancestry outliers).
    quant_betas
        Per-allele effects on ``quant_trait`` (trait SD), one planted site each (drawn with the
        seed); the default plants large effects a few hundred samples detect. ``truth.json``
        lists each under ``associations`` with its ``expected_detectable_at_n``.
    sites_seed
        Seed of the variant sites and of the planted (and QC-failing) variants; by default they
        come from ``seed``. Worlds with one ``sites_seed`` and different seeds share sites and
        planted variants but not persons: two countries' cohorts for a meta-analysis.
    progress
        Called with the number of sites after each chunk.
    detailed_qc_reads
        Write detailed-QC reads (:mod:`genomlab.samples.qc_reads`): ``detailed_qc/reference.fa``
        and ``detailed_qc/targets.bed`` (the GRZ's reference for GRZ_QC_Workflow), index donors'
        FASTQ pairs drawn from it at their metadata's figures (a few thousand reads each), and
        inflated submissions (``truth.json`` → ``inflated_submissions``: reported figure above
        BfArM's threshold, reads at a true one below it). Up to two oncological submissions'
        index donors get captured libraries instead of WGS (``targeted_submissions``: WES
        germline + WES tumour, WES germline + panel tumour), each lab datum with its own target
        BED and reads on it (:func:`genomlab.samples.submissions.get_targeted`). Off by
        default: the committed world stays small and its bytes do not change.

    Returns
    -------
    WorldSummary

    Examples
    --------
    >>> import tempfile
    >>> summary = generate_world(Path(tempfile.mkdtemp()) / "w", n_patients=60, n_variants=2000)
    >>> summary.n_samples > summary.n_patients
    True
    """
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise GenomlabError(f"{out}: output directory is not empty")
    if not quant_betas or not all(np.isfinite(b) for b in quant_betas):
        raise GenomlabError(f"quant_betas={quant_betas}: need at least one finite effect")
    if n_variants < 1000:
        raise GenomlabError(f"n_variants={n_variants}: need at least 1000 sites")
    try:
        cohort = build_cohort(np.random.default_rng([seed, 1]), n_patients,
                              distant_share=distant_share, admixed_share=admixed_share)
    except ValueError as exc:
        raise GenomlabError(str(exc)) from exc
    out.mkdir(parents=True, exist_ok=True)
    geno_rng = np.random.default_rng([seed, 2])
    site_rng = geno_rng if sites_seed is None else np.random.default_rng([sites_seed, 9])
    sites = get_variant_sites(site_rng, n_variants)
    genetics = get_world_genetics(geno_rng, cohort, sites,
                                  n_planted=len(quant_betas) + len(HPO_ODDS_RATIOS),
                                  pick_rng=None if sites_seed is None else site_rng)
    subset = _SubmissionSites(stride=max(1, n_variants // 400))
    dosages, freqs = _write_genotypes(out, geno_rng, cohort, sites, genetics, chunk_size,
                                      threads, progress, subset)
    autosomal = np.flatnonzero(sites.contig < CHR_X)
    write_reference_panel(out, np.random.default_rng([seed, 7]), freqs[:, autosomal],
                          genetics.groups, [sites.variant_id(int(v)) for v in autosomal])
    pheno = compute_phenotypes(np.random.default_rng([seed, 3]), cohort,
                               [sites.variant_id(int(v)) for v in genetics.planted], dosages,
                               genetics.planted_p, quant_betas=tuple(quant_betas))
    _write_fam_and_tsv(out, cohort, pheno)
    paper = draw_paperwork(np.random.default_rng([seed, 4]), cohort)
    write_identity_inputs(out, cohort, paper)
    qc = None
    if detailed_qc_reads:
        qc = QcReads(make_reference(np.random.default_rng([seed, 10])), seed,
                     get_targeted(cohort, paper))
        for sub_i, (germline, _) in qc.targeted.items():
            paper.library_type[cohort.submissions[sub_i].index] = germline
        write_text(out / "detailed_qc" / "reference.fa", format_fasta(qc.reference).decode())
        write_text(out / "detailed_qc" / "targets.bed", format_targets_bed().decode())
    write_submissions(np.random.default_rng([seed, 5]), out, cohort, paper, genetics.mean_depth,
                      _submission_files(cohort, subset), qc)
    records = write_clinical_records(np.random.default_rng([seed, 6]), out, cohort, paper, pheno,
                                     _carried_by_index(cohort, subset),
                                     np.random.default_rng([seed, 8]))
    bad_records = write_bad_clinical_records(out, records)
    write_json(out / "truth.json",
               {**_truth(seed, n_patients, cohort, sites, genetics, pheno, paper, records),
                "bad_kdk_records": bad_records,
                **({"inflated_submissions": paper.inflated_submissions,
                    "targeted_submissions": [
                        {"submission_id": paper.submission_ids[sub_i],
                         "path": f"submissions/{paper.submission_ids[sub_i]}",
                         "library_types": {"germline": germline, "somatic": somatic}}
                        for sub_i, (germline, somatic) in sorted(qc.targeted.items())]}
                   if qc is not None else {})})
    n_files = sum(1 for p in out.rglob("*") if p.is_file())
    return WorldSummary(out, seed, n_patients, len(cohort.samples), n_variants,
                        len(cohort.submissions), n_files)


def load_truth(world_dir: Path | str) -> dict:
    """Read ``truth.json`` of a generated world.

    Examples
    --------
    >>> truth = load_truth(Path(__file__).resolve().parents[2] / "data_samples" / "world")
    >>> truth["n_patients"]
    60
    """
    path = Path(world_dir) / "truth.json"
    if not path.exists():
        raise GenomlabError(f"{path}: no truth.json (generate a world first)")
    return json.loads(path.read_text(encoding="utf-8"))
