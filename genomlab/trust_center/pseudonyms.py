"""Keyed, table-free pseudonyms: AES-256 as a pseudorandom permutation over 128-bit person ids.

Every person known to the trust centre has a random 128-bit internal id. A pseudonym is that id
encrypted with AES-256 (one ECB block: a PRP on unique 128-bit inputs, hence a PRF with no
collisions) under a key that belongs to exactly one *domain*: the genomic datasets, the clinical
datasets, or one project at one key version. The result is written as ``<prefix>`` + 32 lower
case hex digits, e.g. ``PP1-3f9c…``, in numpy arrays of ASCII byte strings. Consequences:

- no mapping table per domain or project (gPAS stores one): issuing 10⁶ pseudonyms is one AES
  call over a 16 MB buffer plus vectorised hex encoding;
- within a domain pseudonyms never collide (a permutation is injective);
- only the key holder can map a pseudonym back to the person (decrypt one block); without the key
  two domains' pseudonyms of a person are independent random-looking values;
- the prefix names the domain and key version, so a pseudonym that leaks into the wrong place is
  recognisable by pattern and old key versions stay resolvable after rotation.

Examples
--------
>>> import numpy as np
>>> key = bytes(range(32))
>>> ids = np.frombuffer(bytes(range(32)), dtype=np.uint8).reshape(2, 16)
>>> names = compute_pseudonyms(key, ids, prefix="PP1-")
>>> [len(n) for n in names], names[0][:4]
([36, 36], b'PP1-')
>>> bool((resolve_pseudonyms(key, names, prefix="PP1-") == ids).all())
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from genomlab.errors import ValidationFailed

ID_BYTES = 16
HEX_DIGITS = 2 * ID_BYTES
_HEX_CHARS = "0123456789abcdef"
# Each byte as its two ASCII hex digits packed into one little-endian uint16, so a whole column
# is encoded by one gather and viewed as fixed-width byte strings without conversion.
_BYTE_TO_HEX_PAIR = np.array(
    [ord(_HEX_CHARS[b >> 4]) | ord(_HEX_CHARS[b & 15]) << 8 for b in range(256)], dtype="<u2")
_CHAR_TO_NIBBLE = np.full(256, 255, dtype=np.uint8)
for _value, _char in enumerate(_HEX_CHARS):
    _CHAR_TO_NIBBLE[ord(_char)] = _value


def derive_key(secret: bytes, info: str) -> bytes:
    """A 256-bit key for one purpose, derived from ``secret`` with HKDF-SHA256 (RFC 5869).

    Examples
    --------
    >>> derive_key(b"x" * 32, "a") != derive_key(b"x" * 32, "b")
    True
    """
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info.encode()).derive(secret)


def _aes(key: bytes, blocks: np.ndarray, *, decrypt: bool = False) -> np.ndarray:
    cipher = Cipher(algorithms.AES(key), modes.ECB())
    context = cipher.decryptor() if decrypt else cipher.encryptor()
    data = np.ascontiguousarray(blocks, dtype=np.uint8).tobytes()
    out = context.update(data) + context.finalize()
    return np.frombuffer(out, dtype=np.uint8).reshape(-1, ID_BYTES)


def encode_hex(blocks: np.ndarray, prefix: str) -> np.ndarray:
    """``prefix`` + lower-case hex of each 16-byte row, as ASCII byte strings (numpy ``S``).

    Byte strings take a quarter of the memory of numpy's UCS-4 ``U`` strings and convert to
    Arrow/polars strings without transcoding; ``.astype(str)`` gives Python text.

    Examples
    --------
    >>> import numpy as np
    >>> encode_hex(np.array([[0, 255] * 8], dtype=np.uint8), "X-").tolist()
    [b'X-00ff00ff00ff00ff00ff00ff00ff00ff']
    """
    n = blocks.shape[0]
    width = len(prefix) + HEX_DIGITS
    out = np.empty((n, width), dtype=np.uint8)
    out[:, : len(prefix)] = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    pairs = _BYTE_TO_HEX_PAIR[np.ascontiguousarray(blocks, dtype=np.uint8)]
    out[:, len(prefix):] = pairs.view(np.uint8).reshape(n, HEX_DIGITS)
    return out.view(f"S{width}").reshape(n)


def decode_hex(names: Sequence[str] | np.ndarray, prefix: str) -> np.ndarray:
    """The 16-byte rows behind ``prefix`` + 32 hex names; raises naming the first bad one.

    Examples
    --------
    >>> decode_hex(["X-00ff00ff00ff00ff00ff00ff00ff00ff"], "X-")[0, :2].tolist()
    [0, 255]
    """
    values = np.asarray(names).reshape(-1)
    width = len(prefix) + HEX_DIGITS
    if values.size == 0:
        return np.empty((0, ID_BYTES), dtype=np.uint8)
    if values.dtype.kind not in "SU":
        values = values.astype(str)
    char_size = 1 if values.dtype.kind == "S" else 4
    if values.dtype.itemsize // char_size < width:  # every entry is too short: pad to show which
        values = values.astype(f"{values.dtype.kind}{width}")
    char_type = np.dtype(np.uint8) if char_size == 1 else np.dtype("<u4")
    chars = np.ascontiguousarray(values).view(char_type).reshape(values.size, -1)
    body = chars[:, len(prefix):width]
    nibbles = _CHAR_TO_NIBBLE[body.astype(np.uint8)]  # wraps above 255: checked next line
    good = nibbles.max(axis=1) < 16
    if char_size == 4 and body.max() > 255:
        good &= (body <= 255).all(axis=1)
    for position, char in enumerate(prefix):
        good &= chars[:, position] == ord(char)
    if chars.shape[1] > width:
        good &= (chars[:, width:] == 0).all(axis=1)
    if not good.all():
        first = int(np.flatnonzero(~good)[0])
        raise ValidationFailed(
            f"pseudonym list: entry {first} ({values[first]!r:.48}) is not "
            f"{prefix!r} followed by {HEX_DIGITS} lower-case hex digits"
        )
    return (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]


def compute_pseudonyms(key: bytes, person_ids: np.ndarray, *, prefix: str) -> np.ndarray:
    """Pseudonyms of ``person_ids`` (uint8, shape (n, 16)) in the domain of ``key``, as ASCII
    byte strings (numpy ``S``; ``.astype(str)`` for text).

    Examples
    --------
    >>> import numpy as np
    >>> ids = np.zeros((1, 16), dtype=np.uint8)
    >>> a = compute_pseudonyms(b"k" * 32, ids, prefix="PP1-")
    >>> b = compute_pseudonyms(b"j" * 32, ids, prefix="PP1-")
    >>> bool(a[0] != b[0])
    True
    """
    return encode_hex(_aes(key, person_ids), prefix)


def resolve_pseudonyms(key: bytes, names: Sequence[str] | np.ndarray, *, prefix: str) -> np.ndarray:
    """The person ids (uint8, shape (n, 16)) behind pseudonyms of the domain of ``key``.

    Examples
    --------
    >>> import numpy as np
    >>> ids = np.arange(16, dtype=np.uint8).reshape(1, 16)
    >>> names = compute_pseudonyms(b"k" * 32, ids, prefix="GDP1-")
    >>> bool((resolve_pseudonyms(b"k" * 32, names, prefix="GDP1-") == ids).all())
    True
    """
    return _aes(key, decode_hex(names, prefix), decrypt=True)


def ids_from_hex(hex_ids: Sequence[str]) -> np.ndarray:
    """uint8 rows (n, 16) from 32-hex person ids (as stored in the trust centre's tables)."""
    joined = bytes.fromhex("".join(hex_ids))
    return np.frombuffer(joined, dtype=np.uint8).reshape(-1, ID_BYTES).copy()


def ids_to_hex(ids: np.ndarray) -> list[str]:
    """32-hex strings of uint8 rows (n, 16)."""
    return encode_hex(ids, "").astype(f"U{HEX_DIGITS}").tolist()


def _halves(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = np.ascontiguousarray(ids, dtype=np.uint8)
    return rows[:, :8].copy().view("<u8").ravel(), rows[:, 8:].copy().view("<u8").ravel()


def get_unique_ids(ids: np.ndarray) -> np.ndarray:
    """The distinct rows of ``ids`` (uint8, (n, 16)), ordered by their first eight bytes.

    Sorts on the first half only (one uint64 key) and compares the second half of neighbours;
    only if two different ids share a first half (probability ~n²/2⁶⁵) does it sort on both.

    Examples
    --------
    >>> import numpy as np
    >>> ids = np.array([[1] * 16, [0] * 16, [1] * 16], dtype=np.uint8)
    >>> get_unique_ids(ids)[:, 0].tolist()
    [0, 1]
    """
    if len(ids) == 0:
        return np.empty((0, ID_BYTES), dtype=np.uint8)
    hi, lo = _halves(ids)
    order = np.argsort(hi)
    hi_sorted, lo_sorted = hi[order], lo[order]
    same_hi = hi_sorted[1:] == hi_sorted[:-1]
    same_lo = lo_sorted[1:] == lo_sorted[:-1]
    if (same_hi & ~same_lo).any():  # a shared first half: order those by the second half too
        order = np.lexsort((lo, hi))
        hi_sorted, lo_sorted = hi[order], lo[order]
        same_hi = hi_sorted[1:] == hi_sorted[:-1]
        same_lo = lo_sorted[1:] == lo_sorted[:-1]
    keep = np.ones(len(order), dtype=bool)
    keep[1:] = ~(same_hi & same_lo)
    return np.ascontiguousarray(ids)[order[keep]]


def filter_ids_in(query: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Boolean mask: which rows of ``query`` occur in ``pool`` (both uint8, (n, 16)); exact.

    Examples
    --------
    >>> import numpy as np
    >>> pool = np.array([[1] * 16, [2] * 16], dtype=np.uint8)
    >>> filter_ids_in(np.array([[2] * 16, [3] * 16], dtype=np.uint8), pool).tolist()
    [True, False]
    """
    found = np.zeros(len(query), dtype=bool)
    if len(query) == 0 or len(pool) == 0:
        return found
    pool_hi, pool_lo = _halves(pool)
    order = np.argsort(pool_hi)
    pool_hi, pool_lo = pool_hi[order], pool_lo[order]
    q_hi, q_lo = _halves(query)
    left = np.searchsorted(pool_hi, q_hi, side="left")
    inside = left < len(pool_hi)
    candidate = np.zeros(len(query), dtype=bool)
    candidate[inside] = pool_hi[left[inside]] == q_hi[inside]
    found[candidate] = pool_lo[left[candidate]] == q_lo[candidate]
    if (pool_hi[1:] == pool_hi[:-1]).any():  # ids sharing a first half: vanishingly rare
        right = np.searchsorted(pool_hi, q_hi, side="right")
        for i in np.flatnonzero(right - left > 1):
            found[i] = bool((pool_lo[left[i]:right[i]] == q_lo[i]).any())
    return found
