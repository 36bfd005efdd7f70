"""Running the Debian reference tools (plink2, plink1.9) and comparing at their printed precision.

A reference tool's table is only as precise as it prints: plink2 writes floats with six
significant digits (its ``dtoa_g``), plink1.9's ``--check-sex`` F with four
(``double_g_writewx4``). Agreement means ``|ours − printed| ≤`` half a unit in the last printed
significant place, plus a tiny slack for our own float rounding — tighter than any fixed
absolute tolerance for small values, and no looser than the tool itself can show.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

FLOAT_SLACK = 1e-12


def run_tool(*args: str | Path) -> None:
    """Run a reference tool; its log is in the error if it fails."""
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"{args[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def read_plink2_table(path: Path) -> pd.DataFrame:
    """A plink2 report (tab-separated, header starting with ``#``)."""
    return pd.read_csv(path, sep="\t").rename(columns=lambda c: c.lstrip("#"))


def read_plink1_table(path: Path) -> pd.DataFrame:
    """A PLINK 1.9 report (columns padded with spaces)."""
    return pd.read_csv(path, sep=r"\s+")


def get_printed_half_unit(printed: np.ndarray, significant_digits: int) -> np.ndarray:
    """Half a unit in the last place of values printed with ``significant_digits`` digits.

    A printed 0 is exact (``%g`` would show any non-zero value), so its half unit is 0.

    Examples
    --------
    >>> get_printed_half_unit(np.array([0.125148, -0.0673684, 0.0]), 6).tolist()
    [5e-07, 5e-08, 0.0]
    """
    printed = np.asarray(printed, dtype=float)
    nonzero = np.isfinite(printed) & (printed != 0)
    exponent = np.floor(np.log10(np.abs(np.where(nonzero, printed, 1.0))))
    return np.where(nonzero, 0.5 * 10.0 ** (exponent - (significant_digits - 1)), 0.0)


def assert_within_printed_precision(ours: np.ndarray, printed: np.ndarray,
                                    significant_digits: int, *, what: str) -> None:
    """``ours`` agrees with ``printed`` to the last place the tool printed (NaN only with NaN)."""
    ours, printed = np.asarray(ours, dtype=float), np.asarray(printed, dtype=float)
    assert ours.shape == printed.shape, what
    assert (np.isnan(ours) == np.isnan(printed)).all(), f"{what}: NaN pattern differs"
    both = ~np.isnan(printed)
    excess = (np.abs(ours[both] - printed[both])
              - get_printed_half_unit(printed[both], significant_digits) - FLOAT_SLACK)
    worst = int(np.argmax(excess)) if excess.size else 0
    assert not (excess > 0).any(), (
        f"{what}: {(excess > 0).sum()} values beyond printed precision; worst ours="
        f"{ours[both][worst]!r} printed={printed[both][worst]!r}")
