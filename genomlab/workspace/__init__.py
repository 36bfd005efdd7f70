"""The researcher's secure processing environment: entitlement-checked loaders, QC, analysis.

Nothing here yet: built by the QC-and-analysis and data-service issues. Never imports the trust
centre.
"""

from genomlab.workspace.release import open_release as open_release
