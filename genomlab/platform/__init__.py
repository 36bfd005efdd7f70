"""Plattformträger (BfArM): node registry, Meldebestätigung, applications, review, register.

Nothing here yet: built by the applications and data-nodes issues.
"""
