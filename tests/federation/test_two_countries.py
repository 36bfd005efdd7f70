"""Two countries, one federated association: each platform's summary statistics leave through its
own airlock, and the meta-analysis finds what neither cohort finds alone.

One shared set-up (module scope): two homes ("DE", "FR"), each with an approved project, its own
synthetic world (different seeds, the same sites: ``sites_seed``), the workspace's QC (streamed,
no Spark), the association and a release request reviewed by two output checkers.

Power calculation for the planted effect. The trait has residual SD about 1 (sex adjusted,
ancestry partly); a planted site has allele frequency p = 0.4, so one sample carries
2p(1 − p) = 0.48 units of information and SE(β) ≈ 1/√(0.48 n). A country of 400 index patients
gives n ≈ 410 unrelated QC-passing samples, SE ≈ 0.072. With β = 0.33 the expected z is about
4.5 in each country (p ≈ 7e-6, short of 5e-8, whose z is 5.45) and 4.5·√2 ≈ 6.4 in the
meta-analysis (p ≈ 2e-10). One planted variant then shows "missed by both, found by the
meta-analysis" with probability about 0.5 (simulated over z draws), one of three planted
variants with about 0.88; the seeds below are fixed, so the test is deterministic.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from genomlab.airlock.directory import PlatformDirectory
from genomlab.airlock.requests import (
    get_outputs_dir,
    get_released_dir,
    open_airlock_ledger,
    record_review,
    submit_request,
)
from genomlab.cli import main
from genomlab.config import GenomlabConfig
from genomlab.errors import NotFoundError
from genomlab.federation import (
    SUMSTATS_COLUMNS,
    compute_summary_statistics,
    find_release_event,
    read_summary_statistics,
    write_summary_statistics,
)
from genomlab.samples import generate_world, load_truth
from genomlab.workspace.analysis.association import (
    GENOME_WIDE_P,
    get_association_samples,
    read_qc_outputs,
)
from genomlab.workspace.qc.pipeline import read_qc_genotypes, run_cohort_qc
from tests.conftest import config_for
from tests.platform.conftest import approve_application

PLANTED_BETAS = (0.33, -0.33, 0.33)
SITES_SEED = 19
SEEDS = {"DE": 101, "FR": 202}
N_PATIENTS = 400
SUMSTATS_NAME = "sumstats_quant_trait.tsv"


@dataclass
class Country:
    name: str
    config: GenomlabConfig
    project: str
    world: Path
    qc: Path
    request_id: str
    released: Path
    sumstats: pd.DataFrame


@dataclass
class Federation:
    countries: dict[str, Country]
    meta: pd.DataFrame
    meta_file: Path
    planted: list[str]


def _info(world: Path) -> pd.DataFrame:
    return pd.read_csv(world / "genotypes" / "samples.tsv", sep="\t").set_index("sample")


def _set_up_country(root: Path, name: str) -> Country:
    config = config_for(root / name / "home")
    project, _ = approve_application(config)
    workspace = config.workspace_dir(project)
    world = workspace / "world"
    generate_world(
        world,
        n_patients=N_PATIENTS,
        n_variants=1000,
        seed=SEEDS[name],
        threads=1,
        quant_betas=PLANTED_BETAS,
        sites_seed=SITES_SEED,
    )
    qc = workspace / "qc"
    run_cohort_qc(
        lambda: None,
        qc,
        vcf=world / "genotypes" / "cohort.vcf.bgz",
        samples=None,
        engine="stream",
        spark_master="local[1]",
    )
    outputs = get_outputs_dir(config, project) / SUMSTATS_NAME
    if name == "DE":  # one country through the CLI, the other through the API
        result = CliRunner().invoke(
            main,
            [
                "federation",
                "summary-statistics",
                "--qc",
                str(qc),
                "--samples",
                str(world / "genotypes" / "samples.tsv"),
                "--phenotype",
                "quant_trait",
                "--out",
                str(outputs),
            ],
        )
        assert result.exit_code == 0, result.output
    else:
        write_summary_statistics(
            compute_summary_statistics(qc, _info(world), "quant_trait"), outputs
        )
    sumstats = read_summary_statistics(outputs)
    directory = PlatformDirectory(config)
    request_id = submit_request(config, directory, "alice", project, [SUMSTATS_NAME])
    record_review(config, directory, "hanna", request_id, "approve", "per-variant aggregates")
    assert (
        record_review(config, directory, "ute", request_id, "approve", "n ≥ 300 each") == "released"
    )
    released = get_released_dir(config, project) / request_id / SUMSTATS_NAME
    return Country(name, config, project, world, qc, request_id, released, sumstats)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Federation:
    root = tmp_path_factory.mktemp("federation")
    countries = {name: _set_up_country(root, name) for name in SEEDS}
    meta_file = root / "researcher" / "meta.tsv"
    result = CliRunner().invoke(
        main,
        [
            "federation",
            "meta-analyse",
            *(str(c.released) for c in countries.values()),
            "--out",
            str(meta_file),
        ],
    )
    assert result.exit_code == 0, result.output
    planted = [
        a["variant"]
        for a in load_truth(countries["DE"].world)["associations"]
        if a["phenotype"] == "quant_trait"
    ]
    meta = pd.read_csv(meta_file, sep="\t").set_index("variant")
    return Federation(countries, meta, meta_file, planted)


def _by_variant(country: Country) -> pd.DataFrame:
    return read_summary_statistics(country.released).set_index("variant")


def test_meta_analyse__finds_a_planted_effect_neither_country_finds_alone(
    federation: Federation,
) -> None:
    de, fr = (_by_variant(c) for c in federation.countries.values())
    missed_alone = []
    for variant in federation.planted:
        meta = federation.meta.loc[variant]
        assert meta["p_value"] < min(de.at[variant, "p_value"], fr.at[variant, "p_value"])
        assert meta["n"] == de.at[variant, "n"] + fr.at[variant, "n"]
        if (
            de.at[variant, "p_value"] >= GENOME_WIDE_P
            and fr.at[variant, "p_value"] >= GENOME_WIDE_P
            and meta["p_value"] < GENOME_WIDE_P
        ):
            missed_alone.append(variant)
    assert missed_alone, federation.meta.loc[federation.planted]
    # the meta-analysis' genome-wide hits are planted variants or their LD neighbours (within
    # 5 Mb), nothing elsewhere
    hits = federation.meta[federation.meta["p_value"] < GENOME_WIDE_P]
    near = [
        any(
            h["chromosome"] == federation.meta.at[v, "chromosome"]
            and abs(h["position"] - federation.meta.at[v, "position"]) <= 5_000_000
            for v in federation.planted
        )
        for _, h in hits.iterrows()
    ]
    assert all(near), hits


def _pooled_rows(country: Country, variants: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The country's association samples (y, sex, PCs) and their calls at ``variants``."""
    sample_qc, _, scores = read_qc_outputs(country.qc)
    rows = get_association_samples(_info(country.world), sample_qc, scores, "quant_trait")
    genotypes = read_qc_genotypes(country.qc)
    columns = [genotypes.samples.index(s) for s in rows.index]
    index = [list(genotypes.variants["variant"]).index(v) for v in variants]
    return rows, genotypes.n_alt[np.ix_(index, columns)]


def test_meta_analyse__estimates_within_one_se_of_the_pooled_analysis(
    federation: Federation,
) -> None:
    import statsmodels.api as sm

    frames, calls = [], []
    names = list(federation.countries)
    for name, country in federation.countries.items():
        rows, n_alt = _pooled_rows(country, federation.planted)
        frame = pd.DataFrame({"y": rows["y"], "is_female": rows["is_female"]})
        for other in names[1:]:
            frame[f"country_{other}"] = float(name == other)
        for pc in (c for c in rows.columns if c.startswith("PC")):  # PCs within each country
            for each in names:
                frame[f"{pc}_{each}"] = rows[pc] if each == name else 0.0
        frames.append(frame)
        calls.append(n_alt)
    pooled = pd.concat(frames)
    genotypes = np.concatenate(calls, axis=1)
    for k, variant in enumerate(federation.planted):
        x = genotypes[k].astype(float)
        called = x >= 0
        design = sm.add_constant(pooled.assign(x=x)[called].drop(columns="y"))
        fit = sm.OLS(pooled["y"][called], design).fit()
        meta = federation.meta.loc[variant]
        assert abs(meta["beta"] - fit.params["x"]) < meta["standard_error"], (
            variant,
            meta["beta"],
            fit.params["x"],
            meta["standard_error"],
        )
        assert abs(meta["standard_error"] - fit.bse["x"]) < 0.1 * meta["standard_error"]


def test_release__every_exchanged_file_went_through_its_countrys_airlock(
    federation: Federation,
) -> None:
    homes = list(federation.countries.values())
    for country in homes:
        event = find_release_event(country.config, country.released)
        assert event.payload["request_id"] == country.request_id
        ledger = open_airlock_ledger(country.config)
        reviews = ledger.events(type="airlock.file.reviewed")
        checkers = [e.actor for e in reviews if e.stream == country.request_id]
        assert sorted(checkers) == ["hanna", "ute"]
        [submitted] = [
            e
            for e in ledger.events(type="airlock.request.submitted")
            if e.stream == country.request_id
        ]
        assert submitted.actor == "alice"
        assert [f["name"] for f in submitted.payload["files"]] == [SUMSTATS_NAME]
        assert not country.released.is_relative_to(country.config.home / "workspaces")
        for other in homes:  # released by this country only, not by the other
            if other is not country:
                with pytest.raises(NotFoundError, match="no airlock release"):
                    find_release_event(other.config, country.released)
    country = homes[0]
    tampered = country.released.parent / "copy.tsv"
    tampered.write_text(country.released.read_text().replace("\t0.", "\t1.", 1))
    with pytest.raises(NotFoundError, match="no airlock release"):
        find_release_event(country.config, tampered)
    tampered.unlink()


def test_exchanged_files__carry_no_individual_level_row(federation: Federation) -> None:
    identifiers: set[str] = set()
    for country in federation.countries.values():
        truth = json.loads((country.world / "truth.json").read_text())
        for sample in truth["samples"]:
            identifiers |= {sample["sample"], sample["person"], sample["family"]}
    files = [c.released for c in federation.countries.values()] + [federation.meta_file]
    for path in files:
        text = path.read_text()
        tokens = set(re.split(r"[\t\n]", text))
        assert not tokens & identifiers, path
        assert not re.search(r"\b[SP]\d{5}\b", text), path
    for country in federation.countries.values():
        table = pd.read_csv(country.released, sep="\t")
        assert tuple(table.columns) == SUMSTATS_COLUMNS
        assert table["variant"].is_unique  # one row per variant
        # exactly the tested variants: the rows the workspace computed, keyed by variant
        assert table["variant"].tolist() == country.sumstats["variant"].tolist()
        assert table["n"].min() >= 300  # aggregates over hundreds of samples
