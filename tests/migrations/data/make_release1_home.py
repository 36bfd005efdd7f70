"""Make a home with release-1 code (commit 0b9a6ab); see README.md. Not a test."""

import sys
from pathlib import Path

from genomlab.config import load_config
from genomlab.db import dispose_engines
from genomlab.institution import Institution
from genomlab.platform.applications import Workflow
from genomlab.trust_center.service import TrustCenter
from tests.platform.conftest import Clock, make_form, populate
from tests.trust_center.conftest import enrol

home = Path(sys.argv[1])
config = load_config(environ={"GENOMLAB_HOME": str(home), "GENOMLAB_LOCAL_USER": "operator"})
wf = Workflow(config, clock=Clock())
populate(wf)
apps = []
for i in range(6):
    app = wf.create_draft("alice", make_form(title=f"Release-1 study {i} on BRCA1 penetrance"))
    wf.submit("alice", app)
    apps.append(app)
wf.assign_handler("hanna", apps[0])
wf.approve("dora", apps[0])
wf.assign_handler("hanna", apps[1])
wf.reject("dora", apps[1], "Not necessary for the research question.")
wf.assign_handler("hanna", apps[2])
tc = TrustCenter(config)
Institution(config, "platform").keys().signing_key("approval")
enrol(tc, 12)
enrol(tc, 3, start=50, research=False)
print(wf.ledger.head(), tc.ledger.head())
dispose_engines()
