"""Output checking: disclosure control and two-person review before outputs leave a workspace.

- :mod:`genomlab.airlock.checks`: ACRO-style and genomic disclosure checks on one table.
- :mod:`genomlab.airlock.differencing`: tables that together reveal a small cell.
- :mod:`genomlab.airlock.files`: the checks that apply to an output file.
- :mod:`genomlab.airlock.requests`: release requests, two independent reviews, release.
- :mod:`genomlab.airlock.directory`: teams and output checkers from the platform.

Never imports the trust centre.
"""
