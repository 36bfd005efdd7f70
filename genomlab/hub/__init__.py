"""JupyterHub for genomlab's people: sign-in, one server per person under their own account.

genomlab does not run its own authenticator or spawner. It *configures* JupyterHub
(:mod:`genomlab.hub.hub_config`: ``genomlab hub config`` writes ``jupyterhub_config.py``,
``genomlab hub start`` runs the hub with it): PAM sign-in with the machine's OS accounts,
JupyterHub's ``LocalProcessSpawner`` started as root so that each server runs under its person's
own uid, hub groups synced from the platform's role records (:mod:`genomlab.hub.groups`), and a
pre-spawn hook that puts the person's platform credentials file into their account
(:mod:`genomlab.hub.spawn`). Who acts at a genomlab service is still the subject of the
person's platform token, never the hub user name a kernel reads from its environment.
"""
