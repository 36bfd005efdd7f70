"""Output checking: disclosure control and two-person review before outputs leave a workspace.

Nothing here yet: built by the airlock issue. Never imports the trust centre.
"""
