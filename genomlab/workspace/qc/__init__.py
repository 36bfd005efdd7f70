"""Cohort QC: sample metrics, sex, relatedness, ancestry, variant metrics and the pipeline."""
