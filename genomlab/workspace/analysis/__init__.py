"""Analysis on QC'd cohorts: association, allele-frequency tables, population statistics."""
