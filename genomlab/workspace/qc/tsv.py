"""QC tables as TSV, fast enough for a million variants: floats rounded to 8 significant digits
(what ``%.8g`` prints, as a number), written by polars; ``true``/``false`` booleans, ``NA``.

pandas' ``to_csv(float_format="%.8g")`` formats every value in Python (about 3 µs each: a
minute for a 1,000,000-variant table); here the rounding is vectorised and polars writes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

_EXACT_POWERS = 22  # 10**k is exact in float64 up to k = 22


def round_significant(values: np.ndarray, digits: int = 8) -> np.ndarray:
    """``values`` rounded to ``digits`` significant digits, each the double nearest to its
    decimal (so the shortest repr prints those digits); NaN, inf and 0 unchanged.

    Examples
    --------
    >>> round_significant(np.array([0.1234567891, 1 / 3, 2.5e-300, 123456789.0, np.nan])).tolist()
    [0.12345679, 0.33333333, 2.5e-300, 123456790.0, nan]
    """
    x = np.asarray(values, dtype=np.float64)
    out = x.copy()
    ok = np.isfinite(x) & (x != 0)
    exponent = np.floor(np.log10(np.abs(x[ok]))).astype(np.int64)
    k = digits - 1 - exponent
    exact = np.abs(k) <= _EXACT_POWERS
    scaled = np.rint(x[ok][exact] * 10.0 ** k[exact])  # an integer below 10**digits
    # dividing (or multiplying) an exact integer by an exact power of ten rounds once
    rounded = np.where(k[exact] >= 0, scaled / 10.0 ** np.maximum(k[exact], 0),
                       scaled * 10.0 ** np.maximum(-k[exact], 0))
    idx = np.flatnonzero(ok)
    out[idx[exact]] = rounded
    out[idx[~exact]] = [float(f"{v:.{digits}g}") for v in x[idx[~exact]]]  # far from 1: rare
    return out


def write_tsv_table(table: pd.DataFrame, path: Path, *, digits: int = 8,
                    chunk_rows: int = 200_000) -> None:
    """Write ``table`` to ``path`` as TSV (header, no index), ``chunk_rows`` rows at a time
    (memory: one chunk's copy, not the table's)."""
    with path.open("wb") as handle:
        for start in range(0, max(len(table), 1), chunk_rows):
            _to_polars(table.iloc[start:start + chunk_rows], digits).write_csv(
                handle, separator="\t", null_value="NA", quote_style="never",
                include_header=start == 0)


def _to_polars(table: pd.DataFrame, digits: int) -> pl.DataFrame:
    out = {}
    for name in table.columns:
        column = table[name]
        if pd.api.types.is_float_dtype(column.dtype):
            out[name] = pl.Series(name, round_significant(column.to_numpy(), digits),
                                  nan_to_null=True)
        elif pd.api.types.is_bool_dtype(column.dtype) or pd.api.types.is_integer_dtype(
                column.dtype):
            out[name] = pl.Series(name, column.to_numpy())
        else:
            # through Arrow: a pandas string column holding <NA> (e.g. reported_sex of persons
            # without a clinical record) cannot go through a numpy object array
            strings = pl.from_pandas(column.astype("string"))
            assert isinstance(strings, pl.Series)  # a pandas Series comes back as one
            out[name] = strings.alias(name).cast(pl.String)
    return pl.DataFrame(out, height=len(table))
