"""QC tables as TSV (``workspace/qc/tsv.py``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from genomlab.workspace.qc.tsv import write_tsv_table


def test_write_tsv_table__text_column_whose_first_hundreds_are_missing(tmp_path: Path) -> None:
    # reported_sex of a release whose first persons have no clinical record: polars once
    # inferred the type from the leading missing values and refused the column
    table = pd.DataFrame({"reported_sex": pd.array([None] * 300 + ["male"], dtype="string"),
                          "f": [0.5] * 301})
    write_tsv_table(table, tmp_path / "t.tsv", chunk_rows=1000)
    back = pd.read_csv(tmp_path / "t.tsv", sep="\t", keep_default_na=False)
    assert back["reported_sex"].tolist() == ["NA"] * 300 + ["male"]
    assert back["f"].tolist() == [0.5] * 301
