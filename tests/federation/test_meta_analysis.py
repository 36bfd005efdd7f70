"""The meta-analysis against a reference (weighted least squares) and the CLI's refusals."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from genomlab.cli import main
from genomlab.errors import ValidationFailed
from genomlab.federation import meta_analyse, read_summary_statistics, write_summary_statistics

HEADER = (
    "variant\tchromosome\tposition\teffect_allele\tother_allele\tn\tbeta\tstandard_error\tp_value\n"
)


def _study(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "".join(r + "\n" for r in rows))
    return path


def test_meta_analyse__equals_weighted_least_squares_and_statsmodels_meta(tmp_path: Path) -> None:
    import statsmodels.api as sm
    from statsmodels.stats.meta_analysis import combine_effects

    rng = np.random.default_rng(7)
    betas, ses = rng.normal(0.2, 0.1, size=(3, 4)), rng.uniform(0.05, 0.3, size=(3, 4))
    tables = {}
    for i in range(3):
        frame = pd.DataFrame(
            {
                "variant": [f"chr1:{100 + j}:A:G" for j in range(4)],
                "chromosome": "chr1",
                "position": [100 + j for j in range(4)],
                "effect_allele": "G",
                "other_allele": "A",
                "n": 500,
                "beta": betas[i],
                "standard_error": ses[i],
                "p_value": 0.5,
            }
        )
        tables[f"s{i}"] = read_summary_statistics(
            write_summary_statistics(frame, tmp_path / f"s{i}.tsv")
        )
    result = meta_analyse(tables)
    for j in range(4):
        fit = sm.WLS(betas[:, j], np.ones(3), weights=1 / ses[:, j] ** 2).fit(
            cov_type="fixed scale"
        )
        assert result.at[j, "beta"] == pytest.approx(fit.params[0], rel=1e-6)
        assert result.at[j, "standard_error"] == pytest.approx(fit.bse[0], rel=1e-5)
        assert result.at[j, "p_value"] == pytest.approx(fit.pvalues[0], rel=1e-4)
        # Cochran's Q: the weighted residual sum of squares of the same fit
        assert result.at[j, "q"] == pytest.approx(fit.ssr, rel=1e-6)
        # and statsmodels' own meta-analysis (fixed effect)
        combined = combine_effects(betas[:, j], ses[:, j] ** 2, use_t=False)
        assert result.at[j, "beta"] == pytest.approx(combined.mean_effect_fe, rel=1e-7)
        assert result.at[j, "standard_error"] == pytest.approx(combined.sd_eff_w_fe, rel=1e-7)
        assert result.at[j, "q"] == pytest.approx(combined.q, rel=1e-6)


def test_meta_analyse__flips_a_study_coded_on_the_other_allele(tmp_path: Path) -> None:
    a = _study(tmp_path / "de.tsv", ["chr1:10:A:G\tchr1\t10\tG\tA\t400\t0.3\t0.5\t0.5"])
    b = _study(tmp_path / "fr.tsv", ["chr1:10:A:G\tchr1\t10\tA\tG\t100\t-0.5\t1.0\t0.6"])
    row = meta_analyse({str(p): read_summary_statistics(p) for p in (a, b)}).iloc[0]
    # weights 4 and 1: (4 * 0.3 + 1 * 0.5) / 5 = 0.34, SE 1/sqrt(5)
    assert (round(row["beta"], 6), round(row["standard_error"], 6)) == (0.34, 0.447214)
    assert row["direction"] == "++"


def _run(*args: str) -> object:
    return CliRunner().invoke(main, ["federation", "meta-analyse", *args])


GOOD = "chr1:10:A:G\tchr1\t10\tG\tA\t400\t0.3\t0.05\t1e-9"


def test_cli_meta_analyse__writes_the_table(tmp_path: Path) -> None:
    a = _study(tmp_path / "de.tsv", [GOOD])
    b = _study(tmp_path / "fr.tsv", [GOOD.replace("400", "300")])
    out = tmp_path / "out" / "meta.tsv"
    result = _run(str(a), str(b), "--out", str(out))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, sep="\t")
    assert table.loc[0, "n"] == 700
    assert table.loc[0, "n_studies"] == 2
    assert "1 variants from 2 studies" in result.output
    assert [p.name for p in out.parent.iterdir()] == ["meta.tsv"]


@pytest.mark.parametrize(
    ("fr_row", "message"),
    [
        (
            "chr1:10:A:C\tchr1\t10\tC\tA\t300\t0.3\t0.05\t1e-9",
            r"fr\.tsv: line 2 \(variant chr1:10:A:C\): field effect_allele = 'C' "
            r"\(other allele 'A'\) "
            r"does not match 'G'/'A' of chr1:10:A:G in .*de\.tsv",
        ),
        (
            "chr1:10:A:G\tchr1\t10\tG\tA\t300\t0.3\tabc\t1e-9",
            r"fr\.tsv: line 2 \(variant chr1:10:A:G\): field standard_error = 'abc' "
            r"is not a number",
        ),
        (
            "chr1:10:A:G\tchr1\t10\tG\tA\t300\t0.3\t0\t1e-9",
            r"fr\.tsv: line 2 \(variant chr1:10:A:G\): field standard_error = '0' "
            r"is not a positive",
        ),
        (
            "chr1:10:A:G\tchr1\t10\tG\tA\t30.5\t0.3\t0.05\t1e-9",
            r"fr\.tsv: line 2 \(variant chr1:10:A:G\): field n = '30\.5' is not a positive integer",
        ),
    ],
)
def test_cli_meta_analyse__bad_record_names_file_line_and_field(
    tmp_path: Path, fr_row: str, message: str
) -> None:
    a = _study(tmp_path / "de.tsv", [GOOD])
    b = _study(tmp_path / "fr.tsv", [fr_row])
    out = tmp_path / "meta.tsv"
    result = _run(str(a), str(b), "--out", str(out))
    assert result.exit_code != 0
    assert re.search(message, result.output), result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["de.tsv", "fr.tsv"]  # nothing written


def test_cli_meta_analyse__missing_column_and_missing_file(tmp_path: Path) -> None:
    a = _study(tmp_path / "de.tsv", [GOOD])
    b = tmp_path / "fr.tsv"
    b.write_text(HEADER.replace("\tstandard_error", "\tse") + GOOD + "\n")
    result = _run(str(a), str(b), "--out", str(tmp_path / "meta.tsv"))
    assert result.exit_code != 0
    assert "fr.tsv: line 1 (header): no column 'standard_error'" in result.output
    result = _run(str(a), str(tmp_path / "it.tsv"), "--out", str(tmp_path / "meta.tsv"))
    assert result.exit_code != 0
    assert "it.tsv: no such summary-statistics file" in result.output
    assert not (tmp_path / "meta.tsv").exists()


def test_read_summary_statistics__duplicate_position_refused(tmp_path: Path) -> None:
    path = _study(tmp_path / "de.tsv", [GOOD, GOOD])
    with pytest.raises(ValidationFailed, match=r"line 3 \(variant chr1:10:A:G\): field position"):
        read_summary_statistics(path)
