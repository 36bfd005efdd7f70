"""The vectorised keyed-pseudonym core: round trips, formats, set operations."""

from __future__ import annotations

import numpy as np
import pytest

from genomlab.errors import ValidationFailed
from genomlab.trust_center.pseudonyms import (
    compute_pseudonyms,
    decode_hex,
    derive_key,
    filter_ids_in,
    get_unique_ids,
    ids_from_hex,
    ids_to_hex,
    resolve_pseudonyms,
)


def _ids(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 16), dtype=np.uint8)


def test_compute_pseudonyms__round_trip_and_format() -> None:
    key = derive_key(b"m" * 32, "project/v1/P")
    ids = _ids(5000)
    names = compute_pseudonyms(key, ids, prefix="PP1-")
    text = names.astype(str).tolist()
    assert all(len(n) == 36 and n.startswith("PP1-") for n in text)
    assert len(set(text)) == 5000
    assert (resolve_pseudonyms(key, text, prefix="PP1-") == ids).all()
    assert (resolve_pseudonyms(key, names, prefix="PP1-") == ids).all()
    expected_hex = ids_to_hex(ids[:1])[0]
    assert len(expected_hex) == 32
    assert bytes.fromhex(expected_hex) == ids[0].tobytes()


def test_compute_pseudonyms__another_key_gives_other_values() -> None:
    ids = _ids(1000)
    a = compute_pseudonyms(derive_key(b"m" * 32, "a"), ids, prefix="X-")
    b = compute_pseudonyms(derive_key(b"m" * 32, "b"), ids, prefix="X-")
    assert not set(a.tolist()) & set(b.tolist())


def test_compute_pseudonyms__empty_input() -> None:
    names = compute_pseudonyms(b"k" * 32, np.empty((0, 16), dtype=np.uint8), prefix="PP1-")
    assert names.shape == (0,)
    assert resolve_pseudonyms(b"k" * 32, [], prefix="PP1-").shape == (0, 16)


@pytest.mark.parametrize("bad", ["PP2-" + "0" * 32, "PP1-" + "0" * 31, "PP1-" + "0" * 33,
                                 "PP1-" + "G" * 32, "PP1-" + "A" * 32, "", "PP1-ä" + "0" * 31,
                                 "PP1-\u0130" + "0" * 31])  # İ: 0x130 wraps to "0" as a byte
def test_decode_hex__bad_names_are_refused_with_position(bad: str) -> None:
    good = "PP1-" + "ab" * 16
    with pytest.raises(ValidationFailed, match="entry 1"):
        decode_hex([good, bad], "PP1-")


def test_get_unique_ids__and_filter_ids_in__match_python_sets() -> None:
    pool = _ids(3000, seed=1)
    query = np.vstack([pool[::3], _ids(500, seed=2), pool[:10]])
    mask = filter_ids_in(query, pool)
    truth = {row.tobytes() for row in pool}
    assert mask.tolist() == [row.tobytes() in truth for row in query]
    unique = get_unique_ids(query)
    assert len(unique) == len({row.tobytes() for row in query})


def test_filter_ids_in__equal_first_halves_are_compared_exactly() -> None:
    pool = np.zeros((3, 16), dtype=np.uint8)
    pool[:, 15] = [1, 2, 3]
    query = np.zeros((2, 16), dtype=np.uint8)
    query[:, 15] = [2, 9]
    assert filter_ids_in(query, pool).tolist() == [True, False]


def test_ids_from_hex__round_trip() -> None:
    ids = _ids(10)
    assert (ids_from_hex(ids_to_hex(ids)) == ids).all()
