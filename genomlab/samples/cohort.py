"""Who is in the synthetic world: persons, families, samples, institutions and planted faults.

A *person* is a genome (truth); a *sample* is one VCF column (what a genome data centre holds).
Two samples of one person are a duplicate; a sample whose person is not the declared child of a
trio is a swap. Everything is drawn from one ``numpy.random.Generator``, so a seed fixes it all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Ancestry groups and their Balding–Nichols F (drift from the ancestral frequencies);
#: pairwise Fst between the three main groups is then about 0.1–0.15, as between continents.
ANCESTRY_F: dict[str, float] = {"EUR": 0.05, "AFR": 0.08, "EAS": 0.07, "OCE": 0.35}
#: Share of index patients per main group; "OCE" appears only as planted ancestry outliers.
ANCESTRY_SHARE: dict[str, float] = {"EUR": 0.6, "AFR": 0.2, "EAS": 0.2}
OUTLIER_ANCESTRY = "OCE"
#: Planted admixed persons (option ``admixed_share``) carry one haplotype set from each group.
ADMIXED_ANCESTRY = "AFR+EUR"


def get_haplotype_ancestries(ancestry: str) -> tuple[str, str]:
    """The groups of a person's paternal and maternal founder haplotypes.

    Examples
    --------
    >>> get_haplotype_ancestries("EUR"), get_haplotype_ancestries("AFR+EUR")
    (('EUR', 'EUR'), ('AFR', 'EUR'))
    """
    first, _, second = ancestry.partition("+")
    return first, second or first

HOSPITALS: tuple[tuple[str, str], ...] = (
    ("260530103", "Synthetisches Universitätsklinikum Süd"),
    ("260840271", "Synthetisches Universitätsklinikum Nord"),
    ("261101458", "Synthetisches Universitätsklinikum West"),
    ("260950623", "Synthetisches Universitätsklinikum Ost"),
)
GRZ_IDS: tuple[str, ...] = ("GRZK00001", "GRZTUE002", "GRZHD0003")
KDK_IDS: tuple[str, ...] = ("KDKTUE005", "KDKK00001", "KDKHD0002")

STUDY_TYPE_SHARE: dict[str, float] = {"single": 0.5, "duo": 0.15, "trio": 0.35}
DISEASE_TYPE_SHARE: dict[str, float] = {"oncological": 0.45, "rare": 0.45, "hereditary": 0.10}


@dataclass
class Person:
    """One genome. ``father``/``mother`` index into the person list (None for founders)."""

    person_id: str
    genetic_sex: str
    ancestry: str
    father: int | None = None
    mother: int | None = None


@dataclass
class Sample:
    """One sequenced sample (a VCF column) and what the hospital declared about it."""

    sample: str
    person: int
    family: str
    relation: str
    reported_sex: str
    hospital_ik: str
    grz: str
    kdk: str
    submission: int
    declared_father: str | None = None
    declared_mother: str | None = None


@dataclass
class Submission:
    """One GRZ submission: an index sample and its sequenced relatives."""

    index: int
    family: str
    hospital_ik: str
    grz: str
    kdk: str
    study_type: str
    disease_type: str
    samples: list[int] = field(default_factory=list)


@dataclass
class Cohort:
    """The persons, samples and submissions of one world, with the planted sample faults."""

    persons: list[Person]
    samples: list[Sample]
    submissions: list[Submission]
    faults: dict[str, list]
    contaminant_of: dict[int, int]
    duplicate_of: dict[int, int]


def _n_faulty(n_patients: int, share: float = 0.02, minimum: int = 1) -> int:
    return max(minimum, round(n_patients * share))


def _pick(rng: np.random.Generator, shares: dict[str, float]) -> str:
    keys = list(shares)
    return keys[int(rng.choice(len(keys), p=np.array(list(shares.values()))))]


def build_cohort(rng: np.random.Generator, n_patients: int, *,
                 distant_share: float = 0.02, admixed_share: float = 0.0) -> Cohort:
    """Draw the families, samples, institutions and planted sample faults of a world.

    Parameters
    ----------
    rng
        The world's generator.
    n_patients
        Number of index patients (one initial submission each).
    distant_share
        Share of index patients of the distant population (:data:`OUTLIER_ANCESTRY`, planted
        as ``ancestry_outlier``; at least one). Every other fault kind is planted in 2 %.
    admixed_share
        Share of index patients who are first-generation admixed (:data:`ADMIXED_ANCESTRY`,
        male singles), also planted as ``ancestry_outlier``; none by default.

    Returns
    -------
    Cohort
        Persons (genomes), samples (VCF columns), submissions and the sample faults.

    Examples
    --------
    >>> cohort = build_cohort(np.random.default_rng(1), 60)
    >>> len({s.person for s in cohort.samples}) <= len(cohort.samples)
    True
    """
    if n_patients < 20:
        raise ValueError(f"n_patients={n_patients}: need at least 20 to plant every fault")
    persons: list[Person] = []
    samples: list[Sample] = []
    submissions: list[Submission] = []

    def new_person(sex: str, ancestry: str, father: int | None = None,
                   mother: int | None = None) -> int:
        persons.append(Person(f"P{len(persons) + 1:05d}", sex, ancestry, father, mother))
        return len(persons) - 1

    def new_sample(person: int, sub: int, relation: str) -> int:
        s = submissions[sub]
        samples.append(Sample(
            sample=f"S{len(samples) + 1:05d}", person=person, family=s.family, relation=relation,
            reported_sex=persons[person].genetic_sex, hospital_ik=s.hospital_ik, grz=s.grz,
            kdk=s.kdk, submission=sub))
        s.samples.append(len(samples) - 1)
        return len(samples) - 1

    def sex() -> str:
        return "male" if rng.random() < 0.5 else "female"

    # Fault slots among single-study index patients, so a fault never touches a declared family.
    n_fault = _n_faulty(n_patients)
    n_distant = _n_faulty(n_patients, distant_share)
    single_roles = (["low_call_rate"] * n_fault + ["contamination"] * n_fault
                    + ["sex_mismatch"] * n_fault + ["ancestry_outlier"] * n_distant
                    + ["duplicate"] * n_fault + ["cryptic"] * (2 * n_fault)
                    + ["admixed"] * round(n_patients * admixed_share))
    n_single_min = len(single_roles) + 4
    study_types = [_pick(rng, STUDY_TYPE_SHARE) for _ in range(n_patients)]
    single_slots = [i for i, t in enumerate(study_types) if t == "single"]
    for i in range(n_patients):
        if len(single_slots) >= n_single_min:
            break
        if study_types[i] != "single":
            study_types[i] = "single"
            single_slots.append(i)
    if study_types.count("trio") < n_fault + 2:
        raise ValueError(f"n_patients={n_patients}: too few trios drawn; use a larger cohort")
    role_of = dict(zip(rng.permutation(sorted(single_slots))[: len(single_roles)].tolist(),
                       single_roles, strict=True))
    trio_slots = [i for i, t in enumerate(study_types) if t == "trio"]
    swapped = set(rng.permutation(trio_slots)[:n_fault].tolist())

    faults: dict[str, list] = {k: [] for k in (
        "low_call_rate", "contamination", "sex_mismatch", "duplicate", "cryptic_relatedness",
        "swapped_trio", "ancestry_outlier")}
    contaminant_of: dict[int, int] = {}
    duplicate_of: dict[int, int] = {}
    sibling_parents: tuple[int, int] | None = None
    first_sibling: int | None = None
    n_hosp = len(HOSPITALS)
    for i in range(n_patients):
        hosp = int(rng.integers(n_hosp))
        ancestry = _pick(rng, ANCESTRY_SHARE)
        role = role_of.get(i)
        if role == "ancestry_outlier":
            ancestry = OUTLIER_ANCESTRY
        elif role == "admixed":
            ancestry = ADMIXED_ANCESTRY
        submissions.append(Submission(
            index=-1, family=f"F{i + 1:05d}", hospital_ik=HOSPITALS[hosp][0],
            grz=GRZ_IDS[hosp % len(GRZ_IDS)], kdk=KDK_IDS[hosp % len(KDK_IDS)],
            study_type=study_types[i], disease_type=_pick(rng, DISEASE_TYPE_SHARE)))
        sub = len(submissions) - 1
        if study_types[i] == "single":
            if role == "cryptic":
                if sibling_parents is None:
                    sibling_parents = (new_person("male", ancestry), new_person("female", ancestry))
                father, mother = sibling_parents
                ancestry = persons[father].ancestry
                person = new_person(sex(), ancestry, father, mother)
            elif role in ("ancestry_outlier", "admixed"):
                # Male, so its population's drift cannot blur the chrX heterozygosity sex check.
                person = new_person("male", ancestry)
            else:
                person = new_person(sex(), ancestry)
            idx = new_sample(person, sub, "index")
            if role == "cryptic":
                if first_sibling is None:
                    first_sibling = idx
                else:
                    faults["cryptic_relatedness"].append(
                        [samples[first_sibling].sample, samples[idx].sample])
                    sibling_parents = None
                    first_sibling = None
            elif role == "sex_mismatch":
                samples[idx].reported_sex = "female" if persons[person].genetic_sex == "male" \
                    else "male"
                faults["sex_mismatch"].append(samples[idx].sample)
            elif role == "contamination":
                contaminant_of[idx] = new_person(sex(), _pick(rng, ANCESTRY_SHARE))
                faults["contamination"].append(samples[idx].sample)
            elif role in ("low_call_rate", "ancestry_outlier"):
                faults[role].append(samples[idx].sample)
            elif role == "admixed":
                faults["ancestry_outlier"].append(samples[idx].sample)
            elif role == "duplicate":
                duplicate_of[idx] = person
        else:
            father = new_person("male", ancestry)
            mother = new_person("female", ancestry)
            child = new_person(sex(), ancestry, father, mother)
            if i in swapped:
                sequenced_child = new_person(persons[child].genetic_sex, ancestry)
            else:
                sequenced_child = child
            idx = new_sample(sequenced_child, sub, "index")
            parent_rel = ("mother",) if study_types[i] == "duo" else ("father", "mother")
            for rel in parent_rel:
                p_idx = new_sample(father if rel == "father" else mother, sub, rel)
                if rel == "father":
                    samples[idx].declared_father = samples[p_idx].sample
                else:
                    samples[idx].declared_mother = samples[p_idx].sample
            if i in swapped:
                faults["swapped_trio"].append(samples[idx].sample)
        submissions[sub].index = idx

    # Duplicates: the same person submitted again, as the index of an extra single submission
    # at another hospital (a second initial submission of the same genome).
    for first, person in duplicate_of.copy().items():
        orig = submissions[samples[first].submission]
        hosp = (HOSPITALS.index(next(h for h in HOSPITALS if h[0] == orig.hospital_ik)) + 1) \
            % n_hosp
        submissions.append(Submission(
            index=-1, family=f"F{len(submissions) + 1:05d}", hospital_ik=HOSPITALS[hosp][0],
            grz=GRZ_IDS[hosp % len(GRZ_IDS)], kdk=KDK_IDS[hosp % len(KDK_IDS)],
            study_type="single", disease_type=orig.disease_type))
        sub = len(submissions) - 1
        dup = new_sample(person, sub, "index")
        submissions[sub].index = dup
        duplicate_of[dup] = first
        del duplicate_of[first]
        faults["duplicate"].append([samples[first].sample, samples[dup].sample])
    return Cohort(persons, samples, submissions, faults, contaminant_of, duplicate_of)
