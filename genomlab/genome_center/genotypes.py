"""The GRZ's cohort genotype store: append-only batches of Hail MatrixTables per consent store.

Layout (under the GRZ's folder)::

    genotypes/consented/batches/<batch_id>.mt
    genotypes/nonconsented/batches/<batch_id>.mt

**Choice: batches plus an index, unioned at read time.** Each intake run writes ONE new
MatrixTable with the samples it stored (column key ``s`` = genome-dataset pseudonym, entries
GT/AD/DP/GQ), first to ``<batch_id>.mt.tmp``, then renamed into place; only after that the
ledger event ``genotypes.batch_stored`` adds it to the index table ``grz_batches`` (in the same
transaction as the submissions' ``stored`` events). A batch folder that is not in the index is
the leftover of a crash and is deleted by the next run. Appending never rewrites earlier
samples; :func:`read_genotypes` joins the indexed batches with ``union_cols`` (outer row join),
which costs one join per batch at read time. When the number of batches grows, compacting them
into one (a rewrite, rare) keeps reads short; a VDS layout would be the next step at
biobank scale. Research-consented and non-consented donors never share a batch or folder.

A batch is built without Spark joins: the submissions' VCFs (small, one family each) are merged
by site in Python into one multi-sample VCF, which Hail imports once. Which VCF column is which
donor: a column named like a ``donorPseudonym`` is that donor, the one remaining column is the
index donor (the index's pseudonym in the metadata is ``index`` or its tanG).
"""

from __future__ import annotations

import gzip
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from genomlab.crashpoints import crashpoint
from genomlab.errors import ValidationFailed
from genomlab.hail_session import HailModule
from genomlab.leftovers import make_owned_dir

STORES = ("consented", "nonconsented")
REFERENCE_GENOME = "GRCh38"
"""The reference genome of every batch: VCF contigs are named as in it (``chr1``)."""
_CONTIG = re.compile(r"^##contig=<ID=([^,>]+)")


@dataclass(frozen=True)
class SampleSource:
    """One donor's genotypes: which VCF, which column, under which pseudonym and store."""

    vcf: Path
    column: str
    pseudonym: str
    store: str
    field: str = "files"
    """The metadata field path of the VCF (``donors[0].labData[0].sequenceData.files[2]``)."""


def get_store_dir(grz_dir: Path, store: str) -> Path:
    """``<grz>/genotypes/<store>/batches``."""
    if store not in STORES:
        raise ValueError(f"field store: expected one of {STORES}, got {store!r}")
    return grz_dir / "genotypes" / store / "batches"


def is_compressed_vcf(vcf: Path) -> bool:
    """Whether a VCF is (b)gzipped, by its name (``.vcf.gz``, ``.vcf.bgz``).

    Examples
    --------
    >>> is_compressed_vcf(Path("a.vcf.gz")), is_compressed_vcf(Path("a.vcf"))
    (True, False)
    """
    return vcf.suffix in (".gz", ".bgz")


def open_vcf_text(vcf: Path) -> TextIO:
    """A (gzipped or plain) VCF opened as UTF-8 text."""
    if is_compressed_vcf(vcf):
        return gzip.open(vcf, "rt", encoding="utf-8")
    return vcf.open(encoding="utf-8")


def read_vcf_columns(vcf: Path) -> list[str]:
    """Sample names of a (gzipped or plain) VCF."""
    with open_vcf_text(vcf) as handle:
        for line in handle:
            if line.startswith("#CHROM"):
                return line.rstrip("\n").split("\t")[9:]
    raise ValidationFailed(f"{vcf}: no #CHROM header line")


def assign_columns(columns: Sequence[str], donor_names: Sequence[str],
                   index_position: int) -> dict[int, str]:
    """Map donor positions to VCF columns: by name, and the one leftover column to the index.

    Examples
    --------
    >>> assign_columns(["S1", "S2"], ["index", "S2"], 0)
    {1: 'S2', 0: 'S1'}
    """
    found = {i: name for i, name in enumerate(donor_names) if name in columns}
    rest = [c for c in columns if c not in found.values()]
    if index_position not in found and len(rest) == 1:
        found[index_position] = rest[0]
    return found


def merge_vcfs(sources: Sequence[SampleSource], out: Path) -> int:
    """Write one multi-sample VCF of ``sources`` (outer join by site); return the site count."""
    meta: dict[str, None] = {}  # every distinct non-contig ## line, in order of appearance
    contigs: dict[str, str] = {}  # contig id -> its ##contig line, in order of appearance
    sites: dict[tuple[str, int, str, str], dict[str, str]] = {}
    formats: dict[tuple[str, int, str, str], str] = {}
    by_file: dict[Path, list[SampleSource]] = {}
    for source in sources:
        by_file.setdefault(source.vcf, []).append(source)
    for vcf, wanted in by_file.items():
        with open_vcf_text(vcf) as handle:
            positions: dict[str, int] = {}
            for line in handle:
                if line.startswith("##"):
                    match = _CONTIG.match(line)
                    if match:
                        contigs.setdefault(match.group(1), line.rstrip("\n"))
                    else:
                        meta.setdefault(line.rstrip("\n"), None)
                    continue
                fields = line.rstrip("\n").split("\t")
                if line.startswith("#CHROM"):
                    positions = {name: 9 + i for i, name in enumerate(fields[9:])}
                    continue
                key = (fields[0], int(fields[1]), fields[3], fields[4])
                fmt = formats.setdefault(key, fields[8])
                calls = sites.setdefault(key, {})
                for source in wanted:
                    if fields[8] == fmt:
                        calls[source.pseudonym] = fields[positions[source.column]]
    names = [s.pseudonym for s in sources]
    contig_order = {contig: i for i, contig in enumerate(contigs)}
    order = sorted(sites, key=lambda k: (contig_order.get(k[0], len(contig_order)), k[1:]))
    header = sorted(meta, key=lambda h: not h.startswith("##fileformat")) + list(contigs.values())
    with out.open("w") as handle:
        handle.write("\n".join(header) + "\n")
        handle.write("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                                "FORMAT", *names]) + "\n")
        for key in order:
            calls = sites[key]
            row = [key[0], str(key[1]), ".", key[2], key[3], ".", "PASS", ".", formats[key]]
            handle.write("\t".join(row + [calls.get(n, "./.") for n in names]) + "\n")
    return len(order)


def write_batch(hl: HailModule, sources: Sequence[SampleSource], store_dir: Path, batch_id: str,
                scratch: Path) -> Path:
    """Write one batch MatrixTable for ``sources`` (temp folder, then rename); return its path.

    The merged VCF lives in a folder of its own under ``scratch`` (the GRZ's ``tmp/``), deleted
    when the batch is written or fails; one a killed run left is swept by the next run.
    """
    store_dir.mkdir(parents=True, exist_ok=True)
    work = make_owned_dir(scratch, "merge")
    final = store_dir / f"{batch_id}.mt"
    tmp = store_dir / f"{batch_id}.mt.tmp"
    try:  # the merged VCF holds genotypes: never left behind, also not by a failed import
        merged = work / f"{batch_id}.vcf"
        merge_vcfs(sources, merged)
        crashpoint("grz.merged")
        mt = hl.import_vcf(str(merged), reference_genome=REFERENCE_GENOME, force=True)
        mt = mt.select_rows().select_cols()
        mt.write(str(tmp), overwrite=True)
        tmp.rename(final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def remove_unindexed_batches(store_dir: Path, indexed: Iterable[str]) -> list[str]:
    """Delete batch folders a crashed run left behind (not in the index); return their names."""
    keep = {Path(p).name for p in indexed}
    removed = []
    if store_dir.is_dir():
        for child in sorted(store_dir.iterdir()):
            if child.name not in keep:
                shutil.rmtree(child, ignore_errors=True)
                removed.append(child.name)
    return removed


def union_batches(hl: HailModule, paths: Sequence[str]) -> Any:
    """The union of batch MatrixTables (outer join on sites; columns appended in order)."""
    if not paths:
        raise ValidationFailed("genotype store is empty: no batch stored yet")
    tables = [hl.read_matrix_table(p) for p in paths]
    result = tables[0]
    for other in tables[1:]:
        result = result.union_cols(other, row_join_type="outer")
    return result
