"""Determinism, layout and consistency of generated worlds."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from genomlab.cli import main
from genomlab.errors import GenomlabError
from genomlab.samples import generate_world, load_truth

REPO = Path(__file__).resolve().parents[2]


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_generate_world__same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    generate_world(tmp_path / "a", n_patients=30, n_variants=1500, seed=11)
    generate_world(tmp_path / "b", n_patients=30, n_variants=1500, seed=11)
    a, b = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert len(a) > 50
    assert a == b


def test_generate_world__different_seed_gives_a_different_world(tmp_path: Path) -> None:
    generate_world(tmp_path / "a", n_patients=30, n_variants=1500, seed=11)
    generate_world(tmp_path / "b", n_patients=30, n_variants=1500, seed=12)
    a, b = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert a["genotypes/cohort.vcf.bgz"] != b["genotypes/cohort.vcf.bgz"]
    assert a["truth.json"] != b["truth.json"]


def _bim_ids(world: Path) -> list[str]:
    with gzip.open(world / "genotypes" / "cohort.vcf.bgz", "rt") as vcf:
        return [":".join(line.split("\t", 5)[i] for i in (0, 1, 3, 4)) for line in vcf
                if not line.startswith("#")]


def test_generate_world__sites_seed_shares_sites_and_planted_effects_not_persons(
        tmp_path: Path) -> None:
    betas = (0.3, -0.2)
    for name, seed in (("de", 21), ("fr", 22)):
        generate_world(tmp_path / name, n_patients=30, n_variants=1000, seed=seed, sites_seed=5,
                       quant_betas=betas)
    de, fr = load_truth(tmp_path / "de"), load_truth(tmp_path / "fr")
    assert _bim_ids(tmp_path / "de") == _bim_ids(tmp_path / "fr")
    planted = [(a["variant"], a.get("beta")) for a in de["associations"]]
    assert planted == [(a["variant"], a.get("beta")) for a in fr["associations"]]
    assert [b for _, b in planted if b is not None] == list(betas)  # two trait sites, two HPO
    assert len(planted) == 4
    assert [s["quant_trait"] for s in de["samples"]] != [s["quant_trait"] for s in fr["samples"]]
    other = generate_world(tmp_path / "other", n_patients=30, n_variants=1000, seed=21)
    assert _bim_ids(other.out_dir) != _bim_ids(tmp_path / "de")


def test_generate_world__refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("keep me")
    with pytest.raises(GenomlabError, match="not empty"):
        generate_world(tmp_path, n_patients=30, n_variants=1500, seed=1)


def test_cli_generate__writes_the_contract_layout(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["samples", "generate", "--patients", "30", "--variants",
                                       "1200", "--seed", "3", "--out", str(tmp_path / "w")])
    assert result.exit_code == 0, result.output
    truth = load_truth(tmp_path / "w")
    for grz in truth["institutions"]["grz"]:
        assert (tmp_path / "w" / "genotypes" / f"{grz}.vcf.bgz.tbi").exists()
    for name in ("cohort.vcf.bgz", "cohort.vcf.bgz.tbi", "cohort.fam", "samples.tsv"):
        assert (tmp_path / "w" / "genotypes" / name).exists()
    assert "samples" in result.output


def _gt_matrix(vcf: Path) -> tuple[list[str], list[list[str]]]:
    rows = []
    with gzip.open(vcf, "rt") as fh:
        for line in fh:
            if line.startswith("#CHROM"):
                names = line.rstrip("\n").split("\t")[9:]
            elif not line.startswith("#"):
                fields = line.rstrip("\n").split("\t")
                rows.append([fields[0], fields[1], *[c.split(":")[0] for c in fields[9:]]])
    return names, rows


def test_cohort_vcf__ploidy_follows_genetic_sex(world: Path, truth: dict) -> None:
    names, rows = _gt_matrix(world / "genotypes" / "cohort.vcf.bgz")
    sex = {s["sample"]: s["genetic_sex"] for s in truth["samples"]}
    y_rows = [r for r in rows if r[0] == "chrY"]
    x_nonpar = [r for r in rows if r[0] == "chrX" and 2781479 < int(r[1]) < 155701383]
    assert y_rows
    assert x_nonpar
    for col, name in enumerate(names, start=2):
        y_calls = {r[col] for r in y_rows}
        x_calls = {r[col] for r in x_nonpar}
        if sex[name] == "male":
            assert x_calls <= {"0", "1", "."}
            assert "0/1" not in x_calls
            assert y_calls <= {"0", "1", "."}
            assert y_calls - {"."}
        else:
            assert y_calls == {"."}
            assert "0/1" in x_calls


def test_cohort_vcf__allelic_depths_agree_with_genotypes(world: Path) -> None:
    with gzip.open(world / "genotypes" / "cohort.vcf.bgz", "rt") as fh:
        cells = [c for line in fh if not line.startswith("#")
                 for c in line.rstrip("\n").split("\t")[9:]][:200000]
    for cell in cells:
        gt, ad, dp, gq = cell.split(":")
        if "." in gt:
            continue
        ref, alt = (int(x) for x in ad.split(","))
        assert ref + alt == int(dp)
        assert 0 <= int(gq) <= 99
        if gt in ("0/0", "0"):
            assert alt == 0
        elif gt in ("1/1", "1"):
            assert ref == 0
        else:
            assert ref > 0
            assert alt > 0


def test_truth__faults_are_disjoint_and_name_existing_samples(truth: dict) -> None:
    names = {s["sample"] for s in truth["samples"]}
    faults = truth["faults"]
    flat = [s for key in ("low_call_rate", "contamination", "sex_mismatch", "swapped_trio",
                          "ancestry_outlier") for s in faults[key]]
    flat += [s for pair in faults["duplicate"] + faults["cryptic_relatedness"] for s in pair]
    assert len(flat) == len(set(flat))
    assert set(flat) <= names
    for key in ("low_call_rate", "contamination", "sex_mismatch", "swapped_trio",
                "ancestry_outlier", "duplicate", "cryptic_relatedness", "hwe_fail_variants",
                "call_rate_fail_variants"):
        assert faults[key], key
    persons = {s["sample"]: s["person"] for s in truth["samples"]}
    assert all(persons[a] == persons[b] for a, b in faults["duplicate"])
    outliers = {s["sample"]: s["ancestry"] for s in truth["samples"]}
    assert {outliers[s] for s in faults["ancestry_outlier"]} == {"OCE"}
    assert len({s["ancestry"] for s in truth["samples"]} - {"OCE"}) >= 3


def test_call_rates__low_call_rate_samples_stand_out(world: Path, truth: dict) -> None:
    names, rows = _gt_matrix(world / "genotypes" / "cohort.vcf.bgz")
    auto = np.array([[c == "./." for c in r[2:]] for r in rows if r[0] not in ("chrX", "chrY")])
    call_rate = 1 - auto.mean(axis=0)
    flagged = {names[i] for i in np.flatnonzero(call_rate < 0.95)}
    assert flagged == set(truth["faults"]["low_call_rate"])
    assert np.median(call_rate) > 0.99


def test_committed_world__matches_the_generator(tmp_path: Path) -> None:
    committed = REPO / "data_samples" / "world"
    generate_world(tmp_path / "w", n_patients=60, n_variants=5000, seed=1)
    assert _digests(committed) == _digests(tmp_path / "w")
