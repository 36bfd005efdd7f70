"""The trust centre's key material and what it computes with it.

All secrets come from a :class:`genomlab.keys.KeyProvider` (0600 files by default; a KMS or HSM
can replace it). Each purpose has its own key, derived with HKDF from a named secret, following
the DSK 2013 rule of specific keys per register and per procedure (genomde.md § 8.7):

========================  ============================  =========================================
secret                    derived key (HKDF info)       use
========================  ============================  =========================================
``kvnr-hash``             –                             HMAC-SHA256 of the KVNR part (never stored
                                                        in clear; a plain hash of ~2.6·10⁹ values
                                                        would be enumerable)
``vn-ref``                –                             HMAC-SHA256 reference of a case number
``identity-aead``         –                             AES-256-GCM of the Arbeitsnummer at rest
``dataset-master``        ``dataset/genomic/v1``,       genome- / clinical-dataset pseudonyms
                          ``dataset/clinical/v1``
``project-master-v<N>``   ``project/v<N>/<project>``    project pseudonyms, key version N
========================  ============================  =========================================

A case number (VN) is never stored: the trust centre keeps its keyed reference and a *sealed
binding* — the internal person id encrypted under a key derived from the VN itself. Only someone
who presents the VN can open the binding, so once the VN is deleted everywhere the append-only
ledger no longer links it to a person.

Examples
--------
>>> import tempfile
>>> from genomlab.keys import FileKeyProvider
>>> keys = TrustCenterSecrets(FileKeyProvider(tempfile.mkdtemp()))
>>> keys.kvnr_hash("A123456780") == keys.kvnr_hash("A123456780")
True
>>> keys.open_arbeitsnummer(keys.seal_arbeitsnummer("AN-1", "c1"), "c1")
'AN-1'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from genomlab.errors import GenomlabError
from genomlab.keys import KeyProvider
from genomlab.messages import DatasetDomain
from genomlab.trust_center.pseudonyms import derive_key

DATASET_PREFIX: dict[DatasetDomain, str] = {"genomic": "GDP1-", "clinical": "KDP1-"}
DATASET_PSEUDONYM_PATTERN = re.compile(r"\b[GK]DP[0-9]{1,4}-[0-9a-f]{32}\b")
"""Matches a genome- or clinical-dataset pseudonym anywhere in text: what a release check or a
workspace scan looks for (a workspace must hold project pseudonyms ``PP<v>-…`` only)."""
_ZERO_NONCE = bytes(12)  # the VN-derived key seals exactly one message


def project_prefix(version: int) -> str:
    """The prefix of project pseudonyms under key version ``version``, e.g. ``PP1-``."""
    return f"PP{version}-"


@dataclass(frozen=True)
class TrustCenterSecrets:
    """The trust centre's keys, read through ``provider`` on each use (never copied elsewhere)."""

    provider: KeyProvider

    def kvnr_hash(self, kvnr: str) -> str:
        """Keyed hash (HMAC-SHA256, hex) of a normalised KVNR part."""
        return hmac.new(self.provider.secret("kvnr-hash"), f"kvnr:{kvnr}".encode(),
                        hashlib.sha256).hexdigest()

    def vn_ref(self, case_number: str) -> str:
        """Keyed reference (HMAC-SHA256, hex) under which a case number is looked up."""
        return hmac.new(self.provider.secret("vn-ref"), f"vn:{case_number}".encode(),
                        hashlib.sha256).hexdigest()

    def seal_arbeitsnummer(self, arbeitsnummer: str, case_id: str) -> str:
        """AES-256-GCM ciphertext (base64 of nonce + ciphertext) bound to ``case_id``."""
        nonce = os.urandom(12)
        sealed = AESGCM(self.provider.secret("identity-aead")).encrypt(
            nonce, arbeitsnummer.encode(), f"case:{case_id}".encode())
        return base64.b64encode(nonce + sealed).decode()

    def open_arbeitsnummer(self, sealed: str, case_id: str) -> str:
        raw = base64.b64decode(sealed)
        try:
            plain = AESGCM(self.provider.secret("identity-aead")).decrypt(
                raw[:12], raw[12:], f"case:{case_id}".encode())
        except InvalidTag as exc:
            raise GenomlabError(
                f"case {case_id}: stored Arbeitsnummer fails authentication") from exc
        return plain.decode()

    def dataset_key(self, domain: DatasetDomain) -> bytes:
        return derive_key(self.provider.secret("dataset-master"), f"dataset/{domain}/v1")

    def project_key(self, project_id: str, version: int) -> bytes:
        master = self.provider.secret(f"project-master-v{version}")
        return derive_key(master, f"project/v{version}/{project_id}")

    def project_master_fingerprint(self, version: int) -> str:
        """A public fingerprint of key version ``version`` (for the ledger; reveals nothing)."""
        return derive_key(self.provider.secret(f"project-master-v{version}"),
                          "fingerprint").hex()[:16]


def seal_binding(case_number: str, binding: dict[str, str]) -> str:
    """Encrypt ``binding`` under a key derived from the case number itself (base64)."""
    key = derive_key(case_number.encode(), "vn/binding")
    plain = json.dumps(binding, sort_keys=True).encode()
    return base64.b64encode(AESGCM(key).encrypt(_ZERO_NONCE, plain, None)).decode()


def open_binding(case_number: str, sealed: str) -> dict[str, str]:
    """The binding sealed by :func:`seal_binding`; raises if ``case_number`` does not open it."""
    key = derive_key(case_number.encode(), "vn/binding")
    try:
        plain = AESGCM(key).decrypt(_ZERO_NONCE, base64.b64decode(sealed), None)
    except InvalidTag as exc:
        raise GenomlabError("case number does not open its stored binding") from exc
    return dict(json.loads(plain))
