"""Genotypes of the synthetic world, generated per chunk of variants with numpy.

Model
-----
- Sites: GRCh38 contigs chr1..chr22, chrX (PAR1/PAR2 diploid in both sexes), chrY (outside the
  PARs, males only); autosomal sites proportional to contig length.
- Allele frequencies: an ancestral frequency per site, then a Balding–Nichols draw per ancestry
  group, ``Beta(p(1-F)/F, (1-p)(1-F)/F)`` with the group's F (:data:`cohort.ANCESTRY_F`).
- LD: sites fall into haplotype blocks; a founder haplotype carries the alternate allele where a
  block-shared Gaussian plus a site-own Gaussian (correlation ``rho``) falls below the probit of
  the group frequency, so the marginal frequency is exact and alleles within a block correlate.
- Inheritance: a child's paternal/maternal haplotype is its parent's two haplotypes joined at one
  crossover per contig; fathers pass their X to daughters and their Y to sons unchanged. Males
  carry one X outside the PARs (haploid GT) and a haploid Y; females have no chrY calls.
- Genotype cells are coded ``state * 10000 + DP * 100 + alt_depth`` and rendered by the lookup
  table of :mod:`genomlab.samples.vcf`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import ndtri

from genomlab.samples.cohort import ANCESTRY_F, Cohort, get_haplotype_ancestries

CONTIGS: tuple[tuple[str, int], ...] = (
    ("chr1", 248956422), ("chr2", 242193529), ("chr3", 198295559), ("chr4", 190214555),
    ("chr5", 181538259), ("chr6", 170805979), ("chr7", 159345973), ("chr8", 145138636),
    ("chr9", 138394717), ("chr10", 133797422), ("chr11", 135086622), ("chr12", 133275309),
    ("chr13", 114364328), ("chr14", 107043718), ("chr15", 101991189), ("chr16", 90338345),
    ("chr17", 83257441), ("chr18", 80373285), ("chr19", 58617616), ("chr20", 64444167),
    ("chr21", 46709983), ("chr22", 50818468), ("chrX", 156040895), ("chrY", 57227415),
)
CHR_X = 22
CHR_Y = 23
#: GRCh38 pseudo-autosomal regions (1-based, inclusive) on chrX and chrY.
PAR_X: tuple[tuple[int, int], ...] = ((10001, 2781479), (155701383, 156030895))
PAR_Y: tuple[tuple[int, int], ...] = ((10001, 2781479), (56887903, 57217415))

# Genotype states (the first factor of a cell code).
MISSING, HOM_REF, HET, HOM_ALT, HAP_REF, HAP_ALT, HAP_MISSING = range(7)
KIND_DIPLOID, KIND_X_NONPAR, KIND_Y = 0, 1, 2
MAX_DEPTH = 99
BASES = np.array(list("ACGT"))


@dataclass
class VariantSites:
    """Sites in VCF order with their LD blocks and ancestral allele frequencies."""

    contig: np.ndarray
    pos: np.ndarray
    ref: np.ndarray
    alt: np.ndarray
    kind: np.ndarray
    block: np.ndarray
    rho: np.ndarray
    p_anc: np.ndarray

    def __len__(self) -> int:
        return len(self.pos)

    def variant_id(self, i: int) -> str:
        """``contig:pos:ref:alt`` of site ``i``."""
        return f"{CONTIGS[self.contig[i]][0]}:{self.pos[i]}:{self.ref[i]}:{self.alt[i]}"


def _positions(rng: np.random.Generator, n: int, lo: int, hi: int) -> np.ndarray:
    pos = np.unique(rng.integers(lo, hi, size=n))
    while len(pos) < n:
        pos = np.unique(np.concatenate([pos, rng.integers(lo, hi, size=n - len(pos))]))
    return pos


def get_variant_sites(rng: np.random.Generator, n_variants: int, *, x_share: float = 0.15,
                      y_share: float = 0.004, mean_block_size: float = 6.0) -> VariantSites:
    """Draw sorted, unique GRCh38 sites with LD blocks and ancestral frequencies.

    Parameters
    ----------
    rng
        The world's generator.
    n_variants
        Number of sites.
    x_share, y_share
        Share of sites on chrX and chrY (more than the genome's 5 % on chrX, so that even a
        small world has enough X sites for a sharp heterozygosity sex check).
    mean_block_size
        Mean number of sites per haplotype block (geometric sizes).

    Returns
    -------
    VariantSites

    Examples
    --------
    >>> sites = get_variant_sites(np.random.default_rng(0), 1000)
    >>> len(sites), bool((np.diff(sites.pos)[np.diff(sites.contig) == 0] > 0).all())
    (1000, True)
    """
    n_y = max(3, round(n_variants * y_share))
    n_x = max(30, round(n_variants * x_share))
    n_auto = n_variants - n_x - n_y
    lengths = np.array([length for _, length in CONTIGS[:CHR_X]], dtype=float)
    counts = np.floor(lengths / lengths.sum() * n_auto).astype(int)
    counts[: n_auto - counts.sum()] += 1
    contig, pos = [], []
    for c, n in enumerate([*counts.tolist(), n_x, n_y]):
        length = CONTIGS[c][1]
        lo, hi = (PAR_Y[0][1] + 1, PAR_Y[1][0]) if c == CHR_Y else (10001, length - 10000)
        pos.append(_positions(rng, n, lo, hi))
        contig.append(np.full(n, c, dtype=np.int8))
    contig_a = np.concatenate(contig)
    pos_a = np.concatenate(pos).astype(np.int64)
    ref_i = rng.integers(0, 4, size=n_variants)
    alt_i = (ref_i + rng.integers(1, 4, size=n_variants)) % 4
    kind = np.zeros(n_variants, dtype=np.int8)
    on_x = contig_a == CHR_X
    in_par = np.zeros(n_variants, dtype=bool)
    for lo, hi in PAR_X:
        in_par |= (pos_a >= lo) & (pos_a <= hi)
    kind[on_x & ~in_par] = KIND_X_NONPAR
    kind[contig_a == CHR_Y] = KIND_Y
    # Blocks: a new block at each contig start or with probability 1/mean_block_size.
    new_block = rng.random(n_variants) < 1.0 / mean_block_size
    new_block[0] = True
    new_block[1:] |= contig_a[1:] != contig_a[:-1]
    # chrX outside the PARs is thinned to one site per LD block (as a sex check LD-prunes), so
    # the few X sites of a small world still give a sharp X inbreeding coefficient.
    new_block |= kind == KIND_X_NONPAR
    block = np.cumsum(new_block) - 1
    rho = rng.uniform(0.75, 0.95, size=int(block[-1]) + 1)
    p_anc = rng.uniform(0.05, 0.95, size=n_variants)
    # Common sites on chrX (as sex-check marker panels choose them) sharpen the X-het signal.
    x_nonpar = kind == KIND_X_NONPAR
    p_anc[x_nonpar] = rng.uniform(0.2, 0.8, size=int(x_nonpar.sum()))
    return VariantSites(contig_a, pos_a, BASES[ref_i], BASES[alt_i], kind, block, rho, p_anc)


def get_chunks(sites: VariantSites, chunk_size: int = 2000) -> list[tuple[int, int]]:
    """Split sites into ``[lo, hi)`` ranges inside one contig, ending at block boundaries.

    Examples
    --------
    >>> sites = get_variant_sites(np.random.default_rng(0), 5000)
    >>> chunks = get_chunks(sites, 500)
    >>> chunks[0][0], chunks[-1][1]
    (0, 5000)
    """
    starts = np.flatnonzero(np.r_[True, sites.block[1:] != sites.block[:-1]])
    contig_at = sites.contig[starts]
    chunks: list[tuple[int, int]] = []
    lo = 0
    for i, start in enumerate(starts[1:], 1):
        if contig_at[i] != contig_at[i - 1] or start - lo >= chunk_size:
            chunks.append((lo, int(start)))
            lo = int(start)
    chunks.append((lo, len(sites)))
    return chunks


LEVELS = (np.arange(256) + 0.5) / 256


def _depth_levels(mean_depth: np.ndarray) -> np.ndarray:
    levels = stats.poisson.ppf(LEVELS[None, :], mean_depth[:, None])
    return np.clip(levels, 8, MAX_DEPTH).astype(np.int32).ravel()


def _het_alt_levels() -> np.ndarray:
    depth = np.arange(MAX_DEPTH + 1)[:, None]
    levels = stats.binom.ppf(LEVELS[None, :], depth, 0.5)
    return np.clip(levels, np.ceil(0.2 * depth), np.floor(0.8 * depth)).astype(np.int32).ravel()


#: Alt reads of a het call at depth d and level k: ``HET_ALT_LEVELS[d * 256 + k]``.
HET_ALT_LEVELS = _het_alt_levels()


@dataclass
class WorldGenetics:
    """Everything drawn once per world that the per-chunk generation needs."""

    groups: list[str]
    founder: np.ndarray  # person indices of founders
    founder_group: np.ndarray  # (n_founders, 2) group of each founder haplotype
    generations: list[np.ndarray]  # children grouped so parents come in earlier groups
    father_of: np.ndarray  # per person, -1 for founders
    mother_of: np.ndarray
    male: np.ndarray  # per person
    crossover: np.ndarray  # (n_persons, 2 parents, n_contigs) positions
    start_hap: np.ndarray  # (n_persons, 2 parents, n_contigs) which parental hap comes first
    sample_person: np.ndarray
    mean_depth: np.ndarray  # per sample
    depth_levels: np.ndarray  # (n_samples * 256) Poisson quantiles of each sample's depth
    sample_missing: np.ndarray  # per-genotype missing rate per sample
    missing_threshold: np.ndarray  # sample_missing scaled to 16-bit draws
    contaminated: dict[int, int]  # sample -> contaminant person
    contamination_fraction: float
    het_min_fraction: float
    duplicates: list[int]  # second samples of duplicated persons
    planted: np.ndarray  # site indices with fixed frequency (planted associations)
    planted_p: float
    hwe_fail: np.ndarray  # site indices forced to all-het
    call_rate_fail: np.ndarray  # site indices with high missingness
    variant_missing: float


def get_world_genetics(rng: np.random.Generator, cohort: Cohort, sites: VariantSites, *,
                       clean_missing: float = 0.002, low_call_rate_missing: float = 0.15,
                       variant_missing: float = 0.35, contamination_fraction: float = 0.15,
                       het_min_fraction: float = 0.12,
                       n_planted: int = 5, planted_p: float = 0.4,
                       pick_rng: np.random.Generator | None = None) -> WorldGenetics:
    """Draw crossovers, depths, missingness and the planted variant sets of a world.

    Parameters
    ----------
    rng, cohort, sites
        The world's generator, cohort and sites.
    clean_missing
        Per-genotype missing rate of clean samples (call rate 0.998).
    low_call_rate_missing
        Missing rate of the planted low-call-rate samples (call rate 0.85, fails a 0.95 filter).
    variant_missing
        Missing rate at the planted call-rate-failing variants (call rate 0.65).
    contamination_fraction
        Share of a contaminated sample's reads from its contaminant.
    het_min_fraction
        Minor-read fraction from which the simulated caller calls a contaminated site het.
    n_planted
        Number of autosomal sites with planted phenotype effects.
    planted_p
        Allele frequency of the planted sites in every group.
    pick_rng
        Generator that picks the planted, HWE-failing and call-rate-failing sites (default
        ``rng``): worlds sharing it (and their sites) share those variants.

    Returns
    -------
    WorldGenetics

    Examples
    --------
    >>> from genomlab.samples.cohort import build_cohort
    >>> rng = np.random.default_rng(0)
    >>> cohort = build_cohort(rng, 60)
    >>> g = get_world_genetics(rng, cohort, get_variant_sites(rng, 3000))
    >>> len(g.planted), len(set(g.planted) & set(g.hwe_fail))
    (5, 0)
    """
    persons = cohort.persons
    groups = list(ANCESTRY_F)
    founder = np.array([i for i, p in enumerate(persons) if p.father is None])
    founder_group = np.array([[groups.index(a) for a in get_haplotype_ancestries(
        persons[i].ancestry)] for i in founder]).reshape(len(founder), 2)
    father_of = np.array([-1 if p.father is None else p.father for p in persons])
    mother_of = np.array([-1 if p.mother is None else p.mother for p in persons])
    generation = np.where(father_of < 0, 0, -1)
    while (generation < 0).any():
        todo = np.flatnonzero(generation < 0)
        ready = todo[(generation[father_of[todo]] >= 0) & (generation[mother_of[todo]] >= 0)]
        generation[ready] = 1 + np.maximum(generation[father_of[ready]],
                                           generation[mother_of[ready]])
    generations = [np.flatnonzero(generation == k) for k in range(1, generation.max() + 1)]
    male = np.array([p.genetic_sex == "male" for p in persons])
    lengths = np.array([length for _, length in CONTIGS])
    crossover = rng.integers(1, lengths, size=(len(persons), 2, len(CONTIGS)))
    start_hap = rng.integers(0, 2, size=(len(persons), 2, len(CONTIGS)))
    n_samples = len(cohort.samples)
    sample_person = np.array([s.person for s in cohort.samples])
    # Index samples meet the 30x WGS germline threshold; relatives may fall below (a warning).
    is_index = np.array([s.relation == "index" for s in cohort.samples])
    mean_depth = np.where(is_index, rng.uniform(31, 45, size=n_samples),
                          rng.uniform(26, 45, size=n_samples))
    sample_missing = np.full(n_samples, clean_missing)
    low = {s.sample for s in cohort.samples if s.sample in cohort.faults["low_call_rate"]}
    for i, s in enumerate(cohort.samples):
        if s.sample in low:
            sample_missing[i] = low_call_rate_missing
    autosomal = np.flatnonzero(sites.contig < CHR_X)
    n_fail = max(3, len(sites) // 1000)
    picked = (pick_rng or rng).choice(autosomal, size=n_planted + 2 * n_fail, replace=False)
    return WorldGenetics(
        groups=groups, founder=founder, founder_group=founder_group,
        generations=generations, father_of=father_of, mother_of=mother_of,
        male=male, crossover=crossover, start_hap=start_hap, sample_person=sample_person,
        mean_depth=mean_depth, depth_levels=_depth_levels(mean_depth),
        sample_missing=sample_missing,
        missing_threshold=np.rint(sample_missing * 2**16).astype(np.uint16),
        contaminated=dict(cohort.contaminant_of), contamination_fraction=contamination_fraction,
        het_min_fraction=het_min_fraction,
        duplicates=sorted(cohort.duplicate_of), planted=np.sort(picked[:n_planted]),
        planted_p=planted_p, hwe_fail=np.sort(picked[n_planted:n_planted + n_fail]),
        call_rate_fail=np.sort(picked[n_planted + n_fail:]), variant_missing=variant_missing)


def _founder_haplotypes(rng: np.random.Generator, sites: VariantSites, lo: int, hi: int,
                        g: WorldGenetics) -> tuple[np.ndarray, np.ndarray]:
    """Founder haplotypes of sites [lo, hi) and the group allele frequencies they come from."""
    p_anc = sites.p_anc[lo:hi]
    freqs = np.empty((len(g.groups), hi - lo))
    for k, group in enumerate(g.groups):
        f = ANCESTRY_F[group]
        a, b = p_anc * (1 - f) / f, (1 - p_anc) * (1 - f) / f
        freqs[k] = np.clip(rng.beta(a, b), 0.005, 0.995)
    planted = (g.planted >= lo) & (g.planted < hi)
    freqs[:, g.planted[planted] - lo] = g.planted_p
    threshold = ndtri(freqs).astype(np.float32)
    block = sites.block[lo:hi] - sites.block[lo]
    rho = sites.rho[sites.block[lo]:sites.block[hi - 1] + 1].astype(np.float32)
    n_f = len(g.founder)
    shared = rng.standard_normal((n_f, 2, len(rho)), dtype=np.float32)
    own = rng.standard_normal((n_f, 2, hi - lo), dtype=np.float32)
    latent = rho[block] * shared[:, :, block] + np.sqrt(1 - rho[block] ** 2) * own
    return latent < threshold[g.founder_group], freqs


def _transmit(parents: np.ndarray, pos: np.ndarray, crossover: np.ndarray,
              start: np.ndarray) -> np.ndarray:
    """Each parent's haplotype ``start`` up to its crossover, the other one after it."""
    rows = np.arange(len(parents))
    return np.where(pos[None, :] < crossover[:, None], parents[rows, start],
                    parents[rows, 1 - start])


def compute_person_haplotypes(rng: np.random.Generator, sites: VariantSites, lo: int, hi: int,
                              cohort: Cohort, g: WorldGenetics) -> tuple[np.ndarray, np.ndarray]:
    """Haplotypes ``(n_persons, 2, hi - lo)`` (0 = paternal, 1 = maternal) of sites [lo, hi),
    and the allele frequencies ``(n_groups, hi - lo)`` of the ancestry groups (``g.groups``).

    Examples
    --------
    >>> from genomlab.samples.cohort import build_cohort
    >>> rng = np.random.default_rng(0)
    >>> cohort = build_cohort(rng, 60)
    >>> sites = get_variant_sites(rng, 500)
    >>> g = get_world_genetics(rng, cohort, sites)
    >>> haps, freqs = compute_person_haplotypes(rng, sites, 0, 100, cohort, g)
    >>> haps.shape[1:], freqs.shape
    ((2, 100), (4, 100))
    """
    haps = np.zeros((len(cohort.persons), 2, hi - lo), dtype=bool)
    haps[g.founder], freqs = _founder_haplotypes(rng, sites, lo, hi, g)
    contig = int(sites.contig[lo])
    pos = sites.pos[lo:hi]
    nonpar = sites.kind[lo:hi] == KIND_X_NONPAR
    for kids in g.generations:
        father, mother = haps[g.father_of[kids]], haps[g.mother_of[kids]]
        from_father = _transmit(father, pos, g.crossover[kids, 0, contig],
                                g.start_hap[kids, 0, contig])
        from_mother = _transmit(mother, pos, g.crossover[kids, 1, contig],
                                g.start_hap[kids, 1, contig])
        if contig == CHR_X:
            # Outside the PARs a father passes his single X (stored maternal) to daughters only.
            sons = g.male[kids][:, None]
            from_father[:, nonpar] = np.where(sons, from_mother[:, nonpar],
                                              father[:, 1][:, nonpar])
        elif contig == CHR_Y:
            from_father = father[:, 0]
        haps[kids, 0], haps[kids, 1] = from_father, from_mother
    return haps, freqs


def compute_person_states(haps: np.ndarray, kind: np.ndarray, male: np.ndarray) -> np.ndarray:
    """Genotype states ``(n_persons, n_sites)`` from haplotypes, ploidy-aware.

    Examples
    --------
    >>> haps = np.array([[[1, 0]], [[1, 1]]], dtype=bool).reshape(2, 2, 1)
    >>> compute_person_states(haps, np.array([1]), np.array([True, False])).tolist()
    [[4], [3]]
    """
    states = (HOM_REF + haps[:, 0].astype(np.int8) + haps[:, 1]).astype(np.int8)
    male_col = male[:, None]
    x_male = (kind == KIND_X_NONPAR)[None, :] & male_col
    states = np.where(x_male, HAP_REF + haps[:, 1], states)
    on_y = (kind == KIND_Y)[None, :]
    states = np.where(on_y & male_col, HAP_REF + haps[:, 0], states)
    return np.where(on_y & ~male_col, HAP_MISSING, states).astype(np.int8)


@dataclass
class ChunkGenotypes:
    """One chunk: the cell codes of every sample, the person dosages of planted sites and the
    allele frequencies of each ancestry group (what a reference panel is drawn from)."""

    lo: int
    hi: int
    cells: np.ndarray  # (n_sites, n_samples) int32 cell codes
    planted_dosage: dict[int, np.ndarray]  # site index -> per-person alt dosage
    group_freqs: np.ndarray  # (n_groups, n_sites) founder allele frequencies per group


def generate_chunk(rng: np.random.Generator, sites: VariantSites, lo: int, hi: int,
                   cohort: Cohort, g: WorldGenetics) -> ChunkGenotypes:
    """Generate the sample genotype cells of sites [lo, hi), with every planted fault.

    Examples
    --------
    >>> from genomlab.samples.cohort import build_cohort
    >>> rng = np.random.default_rng(0)
    >>> cohort = build_cohort(rng, 60)
    >>> sites = get_variant_sites(rng, 500)
    >>> g = get_world_genetics(rng, cohort, sites)
    >>> generate_chunk(rng, sites, 0, 100, cohort, g).cells.shape == (100, len(cohort.samples))
    True
    """
    haps, freqs = compute_person_haplotypes(rng, sites, lo, hi, cohort, g)
    kind = sites.kind[lo:hi]
    person_states = compute_person_states(haps, kind, g.male)
    states = person_states[g.sample_person]
    n_s, n_v = states.shape
    diploid = (states >= HOM_REF) & (states <= HOM_ALT)
    # Depth ~ Poisson(sample mean) and het alt reads ~ Binomial(depth, 1/2), both drawn as
    # quantiles of 256 equiprobable levels indexed by one random byte each (fast lookups).
    draw = rng.integers(0, 2**16, size=(n_s, n_v), dtype=np.uint16)
    depth = g.depth_levels[(np.arange(n_s) * 256)[:, None] + (draw >> 8)]
    het_alt = HET_ALT_LEVELS[depth * 256 + (draw & 255)]
    contaminated_alt: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for sample, contaminant in g.contaminated.items():
        # Foreign reads shift the allele balance; the caller says het above 12 % minor reads.
        c_dose = haps[contaminant].sum(axis=0)
        hom = diploid[sample] & ((states[sample] == HOM_REF) | (states[sample] == HOM_ALT))
        foreign = np.where(states[sample] == HOM_REF, c_dose, 2 - c_dose) / 2
        minor = rng.binomial(depth[sample], g.contamination_fraction * foreign)
        called_het = hom & (foreign > 0) & (minor >= g.het_min_fraction * depth[sample])
        alt_reads = np.where(states[sample] == HOM_REF, minor, depth[sample] - minor)
        contaminated_alt[sample] = (called_het, alt_reads)
        states[sample, called_het] = HET
    for sample in g.duplicates:
        flip = diploid[sample] & (rng.random(n_v) < 0.002)
        states[sample, flip] = np.where(states[sample, flip] == HET, HOM_REF, HET)
    hwe = g.hwe_fail[(g.hwe_fail >= lo) & (g.hwe_fail < hi)] - lo
    states[:, hwe] = HET
    miss_draw = rng.integers(0, 2**16, size=(n_s, n_v), dtype=np.uint16)
    missing = miss_draw < g.missing_threshold[:, None]
    crf = g.call_rate_fail[(g.call_rate_fail >= lo) & (g.call_rate_fail < hi)] - lo
    combined = 1 - (1 - g.sample_missing[:, None]) * (1 - g.variant_missing)
    missing[:, crf] = miss_draw[:, crf] < np.rint(combined * 2**16)
    haploid = (states == HAP_REF) | (states == HAP_ALT)
    states[missing & haploid] = HAP_MISSING
    states[missing & ~haploid & (states != HAP_MISSING)] = MISSING
    for sample, (called_het, alt_reads) in contaminated_alt.items():
        het_alt[sample, called_het] = alt_reads[called_het]
    alt = np.where(states == HET, het_alt,
                   np.where((states == HOM_ALT) | (states == HAP_ALT), depth, 0))
    called = (states != MISSING) & (states != HAP_MISSING)
    cells = states.astype(np.int32) * 10000 + np.where(called, depth * 100 + alt, 0)
    planted_dosage = {int(v): (person_states[:, v - lo] - HOM_REF).astype(np.int8)
                      for v in g.planted[(g.planted >= lo) & (g.planted < hi)]}
    return ChunkGenotypes(lo, hi, np.ascontiguousarray(cells.T), planted_dosage, freqs)
