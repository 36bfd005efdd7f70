"""Disclosure checks with known answers: pass, fail and review, each genomic rule, differencing."""

from __future__ import annotations

import doctest
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

import genomlab.airlock.checks
import genomlab.airlock.differencing
import genomlab.airlock.files
from genomlab.airlock.checks import (
    check_dominance,
    check_group_sizes,
    check_identifiers,
    check_min_cell_count,
    check_residual_df,
    check_row_level,
    check_table,
    check_variant_counts,
    check_zeros,
    compute_magnitude_table,
    get_column_roles,
    overall_status,
)
from genomlab.airlock.differencing import check_differencing
from genomlab.airlock.files import check_output_file
from genomlab.config import DisclosureConfig


@pytest.mark.parametrize("module", [genomlab.airlock.checks, genomlab.airlock.differencing,
                                    genomlab.airlock.files])
def test_docstring_examples__run(module) -> None:
    failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert tried > 0
    assert failures == 0


def test_check_min_cell_count__all_large_passes() -> None:
    result = check_min_cell_count(pl.DataFrame({"sex": ["F", "M"], "n": [10, 250]}))
    assert (result.status, result.cells) == ("pass", [])


def test_check_min_cell_count__small_cell_fails_with_cell() -> None:
    result = check_min_cell_count(pl.DataFrame({"sex": ["F", "M"], "n": [40, 9]}))
    assert result.status == "fail"
    assert [(c.row, c.column, c.value) for c in result.cells] == [(1, "n", 9)]
    assert result.reasons == ["row 1 (sex=M): n = 9 is below the minimum cell count 10"]


def test_check_min_cell_count__threshold_from_config() -> None:
    table = pl.DataFrame({"sex": ["F", "M"], "n": [40, 15]})
    assert overall_status(check_table(table, DisclosureConfig(min_cell_count=20))) == "fail"
    assert overall_status(check_table(table, DisclosureConfig())) == "pass"


def test_check_min_cell_count__missing_and_negative_need_review() -> None:
    result = check_min_cell_count(pl.DataFrame({"g": ["a", "b", "c"], "n": [None, -3, 50]}))
    assert result.status == "review"
    assert [c.row for c in result.cells] == [0, 1]


def test_check_min_cell_count__suppressed_markers_pass() -> None:
    result = check_min_cell_count(pl.DataFrame({"g": ["a", "b"], "n": ["<10", "42"]}))
    assert result.status == "pass"


def test_check_min_cell_count__pandas_crosstab_with_named_counts() -> None:
    frame = pd.DataFrame({"sex": ["F", "F", "M"] * 10 + ["M"], "smoker": ["y", "n", "n"] * 10
                          + ["y"]})
    crosstab = pd.crosstab(frame["sex"], frame["smoker"])
    roles = get_column_roles(crosstab, counts=["n", "y"])
    result = check_min_cell_count(crosstab, roles=roles)
    assert result.status == "fail"
    assert [(c.row, c.column, c.value) for c in result.cells] == [(1, "y", 1)]


def test_check_zeros__zero_fails_only_when_configured() -> None:
    table = pl.DataFrame({"sex": ["F", "M"], "n": [12, 0]})
    assert check_zeros(table).status == "fail"
    assert "zeros" not in [r.check for r in check_table(table)]
    on = check_table(table, DisclosureConfig(suppress_zeros=True))
    assert [r.status for r in on if r.check == "zeros"] == ["fail"]


def test_check_dominance__nk_rule_fails() -> None:
    table = pl.DataFrame({"ward": ["A"], "total": [100.0], "largest_1": [80.0],
                          "largest_2": [15.0]})
    result = check_dominance(table)
    assert result.status == "fail"
    assert "n,k rule" in result.reasons[0]


def test_check_dominance__p_rule_fails_where_nk_passes() -> None:
    # top two hold 97 % (< k = 99 %), but total - x1 - x2 = 3 < 10 % of x1 = 5
    table = pl.DataFrame({"ward": ["A"], "total": [100.0], "largest_1": [50.0],
                          "largest_2": [47.0]})
    result = check_dominance(table, k=0.99)
    assert result.status == "fail"
    assert "p% rule" in result.reasons[0]


def test_check_dominance__spread_contributions_pass() -> None:
    rows = pl.DataFrame({"ward": ["A"] * 20, "cost": [float(i + 10) for i in range(20)]})
    table = compute_magnitude_table(rows, by=["ward"], value="cost")
    assert table["total"][0] == sum(i + 10 for i in range(20))
    assert check_dominance(table).status == "pass"


def test_check_dominance__one_contributor_needs_review() -> None:
    table = compute_magnitude_table(pl.DataFrame({"ward": ["A"], "cost": [7.0]}), by=["ward"],
                                    value="cost")
    assert check_dominance(table).status == "review"


def test_check_variant_counts__small_allele_count_fails() -> None:
    table = pl.DataFrame({"variant": ["1:100:A:G", "1:200:C:T"], "AC": [50, 4],
                          "AN": [1000, 1000]})
    result = check_variant_counts(table)
    assert result.status == "fail"
    assert [(c.row, c.column) for c in result.cells] == [(1, "AC")]


def test_check_variant_counts__complement_of_allele_number_fails() -> None:
    table = pl.DataFrame({"variant": ["1:100:A:G"], "AC": [996], "AN": [1000]})
    result = check_variant_counts(table)
    assert result.status == "fail"
    assert result.reasons == ["row 0 (variant=1:100:A:G): AC = 996 leaves 4 of AN = 1000, "
                              "below the minimum allele count 10"]


def test_check_variant_counts__frequency_times_number_is_checked() -> None:
    table = pl.DataFrame({"variant": ["1:100:A:G", "1:200:C:T"], "AF": [0.002, 0.25],
                          "AN": [2000, 2000]})
    result = check_variant_counts(table)
    assert result.status == "fail"
    assert [c.row for c in result.cells] == [0]  # 0.002 * 2000 = 4 alleles


def test_check_variant_counts__frequency_without_denominator_needs_review() -> None:
    result = check_variant_counts(pl.DataFrame({"variant": ["1:100:A:G"], "AF": [0.3]}))
    assert result.status == "review"


def test_check_variant_counts__few_carriers_fail() -> None:
    table = pl.DataFrame({"variant": ["1:100:A:G", "2:5:G:A"], "n_carriers": [3, 30],
                          "n_called": [500, 500]})
    result = check_variant_counts(table, min_carrier_count=5)
    assert result.status == "fail"
    assert [(c.row, c.column, c.value) for c in result.cells] == [(0, "n_carriers", 3)]


def test_check_variant_counts__large_counts_pass() -> None:
    table = pl.DataFrame({"variant": ["1:100:A:G"], "AC": [120], "AN": [1000],
                          "n_carriers": [110], "n_called": [500]})
    assert check_variant_counts(table).status == "pass"


def test_check_group_sizes__small_case_group_fails() -> None:
    table = pl.DataFrame({"variant": ["1:100:A:G"], "beta": [0.4], "p_value": [1e-3],
                          "n_cases": [7], "n_controls": [900]})
    result = check_group_sizes(table)
    assert result.status == "fail"
    assert [c.column for c in result.cells] == ["n_cases"]


def test_check_group_sizes__frequency_table_population_too_small() -> None:
    # AN = 12 alleles: 6 diploid people in the group
    table = pl.DataFrame({"population": ["EUR", "AFR"], "AC": [400, 10], "AN": [4000, 12]})
    result = check_group_sizes(table)
    assert result.status == "fail"
    assert "population=AFR" in result.reasons[0]


def test_check_residual_df__model_output() -> None:
    fine = pl.DataFrame({"term": ["age"], "coef": [0.2], "df_resid": [150]})
    small = pl.DataFrame({"term": ["age"], "coef": [0.2], "df_resid": [6]})
    assert check_residual_df(fine).status == "pass"
    assert check_residual_df(small).status == "fail"


def test_check_identifiers__pseudonyms_and_hex_keys_fail() -> None:
    table = pl.DataFrame({"label": ["PP12-7QX3K9", "ok", "ab" * 32], "n": [11, 12, 13]})
    result = check_identifiers(table)
    assert result.status == "fail"
    assert [c.row for c in result.cells] == [0, 2]


def test_check_identifiers__ordinary_labels_pass() -> None:
    table = pl.DataFrame({"gene": ["BRCA1", "TP53"], "n": [11, 12]})
    assert check_identifiers(table).status == "pass"


def test_check_row_level__one_row_per_sample_fails() -> None:
    table = pl.DataFrame({"s": [f"x{i}" for i in range(30)], "n_het": list(range(30))})
    assert check_row_level(table).status == "fail"


def test_check_row_level__unrecognised_table_needs_review() -> None:
    table = pl.DataFrame({"height": [170, 182, 165], "weight": [70, 80, 60]})
    assert check_row_level(table).status == "review"
    assert overall_status(check_table(table)) == "review"


def test_check_table__clean_association_results_pass() -> None:
    table = pl.DataFrame({"variant": ["1:100:A:G", "2:5:G:A"], "beta": [0.1, -0.2],
                          "p_value": [0.01, 0.5], "AC": [120, 300], "AN": [2000, 2000],
                          "n_cases": [400, 400], "n_controls": [600, 600]})
    results = check_table(table)
    assert overall_status(results) == "pass"
    assert {r.check for r in results} == {"variant_counts", "group_sizes", "identifiers",
                                          "row_level"}


def test_check_output_file__figure_without_data_needs_review(tmp_path: Path) -> None:
    figure = tmp_path / "plot.png"
    figure.write_bytes(b"\x89PNG")
    assert check_output_file(figure).status == "review"
    (tmp_path / "plot.csv").write_text("bin,count\n1,30\n2,4\n")
    checked = check_output_file(figure)
    assert checked.status == "fail"
    assert checked.kind == "figure"


def test_check_output_file__svg_blocked(tmp_path: Path) -> None:
    (tmp_path / "p.svg").write_text("<svg/>")
    assert check_output_file(tmp_path / "p.svg").status == "fail"


def test_check_differencing__nested_populations_fail() -> None:
    everyone = pl.DataFrame({"sex": ["F", "M"], "n": [60, 55]})
    without_children = pl.DataFrame({"sex": ["F", "M"], "n": [57, 48]})
    result = check_differencing({"adults.csv": without_children}, {"all.csv": everyone})
    assert result.status == "fail"
    failing = [(c.table, c.row, c.value) for c in result.cells if c.row is not None]
    assert failing == [("adults.csv", 0, 57.0), ("adults.csv", 1, 48.0)]


def test_check_differencing__total_vs_other_breakdown_needs_review() -> None:
    by_sex = pl.DataFrame({"sex": ["F", "M"], "n": [60, 55]})
    by_region = pl.DataFrame({"region": ["N", "S"], "n": [50, 61]})  # total 111 vs 115
    result = check_differencing({"region.csv": by_region}, {"sex.csv": by_sex})
    assert result.status == "review"
    assert result.reasons == ["region.csv and sex.csv: the totals of n differ by 4 (111 vs 115); "
                              "nested populations would reveal a group below 10"]


def test_check_differencing__within_one_request() -> None:
    a = pl.DataFrame({"sex": ["F", "M"], "n": [60, 55]})
    b = pl.DataFrame({"sex": ["F", "M"], "n": [60, 52]})
    assert check_differencing({"a.csv": a, "b.csv": b}).status == "fail"


def test_check_differencing__far_apart_populations_pass() -> None:
    a = pl.DataFrame({"sex": ["F", "M"], "n": [60, 55]})
    b = pl.DataFrame({"sex": ["F", "M"], "n": [160, 155]})
    assert check_differencing({"a.csv": a}, {"b.csv": b}).status == "pass"


def test_check_differencing__allele_counts_across_releases() -> None:
    cohort = pl.DataFrame({"variant": ["1:100:A:G", "2:5:G:A"], "AC": [40, 120]})
    subcohort = pl.DataFrame({"variant": ["1:100:A:G", "2:5:G:A"], "AC": [38, 120]})
    result = check_differencing({"sub.csv": subcohort}, {"cohort.csv": cohort})
    assert result.status == "fail"
    assert [(c.row, c.column) for c in result.cells if c.row is not None] == [(0, "AC")]
