"""Separated deployment (issue 15): each institution instance under its own OS account.

- :mod:`genomlab.deploy.layout`: who should own what (accounts, project groups, modes);
- :mod:`genomlab.deploy.plan`: what differs on this machine, as a list of steps (``--dry-run``);
- :mod:`genomlab.deploy.system`: the only code that changes the system (``useradd``,
  ``groupadd``, ``userdel``, ``groupdel``, ``chown``/``chmod`` under the home);
- :mod:`genomlab.deploy.launch`: start the services (``genomlab serve KIND``) as their accounts
  or, for ``genomlab serve all``, as the current user; wait until they answer; stop them;
- :mod:`genomlab.deploy.systemd`: one systemd unit per instance (``deploy systemd-units``).
"""
