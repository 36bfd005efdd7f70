"""Vertrauensstelle (trust centre, RKI): identities, case numbers, pseudonyms, re-identification.

Nothing here yet: built by the trust-centre issue. Only this package may hold identifying data.
"""
