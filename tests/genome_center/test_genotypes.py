"""Merging submission VCFs into one batch VCF: header, outer join by site."""

from __future__ import annotations

import gzip
from pathlib import Path

from genomlab.genome_center.genotypes import SampleSource, merge_vcfs

SUBMISSIONS = Path(__file__).resolve().parents[2] / "data_samples" / "world" / "submissions"


def _index_vcfs(n: int) -> list[Path]:
    return sorted(SUBMISSIONS.glob("*/files/donor_index/*.vcf.gz"))[:n]


def _sites(vcf: Path) -> set[tuple[str, str]]:
    with gzip.open(vcf, "rt") as handle:
        return {tuple(line.split("\t")[:2]) for line in handle if not line.startswith("#")}


def _column(vcf: Path) -> str:
    with gzip.open(vcf, "rt") as handle:
        return next(line for line in handle if line.startswith("#CHROM")).split()[9]


def _drop_every_third_site(vcf: Path, out: Path) -> Path:
    with gzip.open(vcf, "rt") as source, gzip.open(out, "wt") as target:
        body = 0
        for line in source:
            if not line.startswith("#"):
                body += 1
                if body % 3 == 0:
                    continue
            target.write(line)
    return out


def test_merge_vcfs__keeps_format_header_and_outer_joins_sites(tmp_path: Path) -> None:
    first, other = _index_vcfs(2)
    second = _drop_every_third_site(other, tmp_path / "thinned.vcf.gz")
    sources = [SampleSource(vcf, _column(vcf), f"GDP1-{i:032x}", "consented")
               for i, vcf in enumerate((first, second))]
    out = tmp_path / "batch.vcf"
    n_sites = merge_vcfs(sources, out)
    lines = out.read_text().splitlines()
    header = [line for line in lines if line.startswith("##")]
    assert header[0].startswith("##fileformat=VCFv4")
    for field in ("GT", "AD", "DP", "GQ"):
        assert sum(line.startswith(f"##FORMAT=<ID={field},") for line in header) == 1
    assert len({line for line in header if line.startswith("##contig")}) == len(
        [line for line in header if line.startswith("##contig")])
    body = [line.split("\t") for line in lines if not line.startswith("#")]
    assert n_sites == len(body) == len(_sites(first) | _sites(second))
    only_first = _sites(first) - _sites(second)
    assert only_first, "the two submissions should cover different sites"
    missing = [row for row in body if tuple(row[:2]) in only_first]
    assert all(row[10] == "./." and row[9] != "./." for row in missing)
    chrom = next(line for line in lines if line.startswith("#CHROM")).split("\t")
    assert chrom[9:] == [s.pseudonym for s in sources]
