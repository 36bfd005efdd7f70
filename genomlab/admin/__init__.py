"""Operator commands that concern every institution's store at once (schema upgrades)."""
