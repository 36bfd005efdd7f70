"""What a researcher's notebook opens with: the member's project, its release and its rules.

A researcher may see one thing: the release of a project whose approved team they are on, while
their entitlement lasts. :func:`get_project_context` finds it for the member genomlab resolves
(the verified person of the kernel's credentials file: ``credentials``, else
``$GENOMLAB_CREDENTIALS``, else ``~/.genomlab/credentials.json``; never a name from the
environment) without touching Spark, so a
notebook checks its inputs first and starts Hail only when they are there. Paths come from the
configuration's home, never from the kernel's working directory.

The DUO terms are those of the datasets the project's application asked for (its data
categories), in plain words; :func:`can_run_analysis` says whether they allow an analysis kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from genomlab.config import GenomlabConfig, load_config
from genomlab.errors import NotFoundError, PermissionDenied, ValidationFailed
from genomlab.platform.applications.duo import get_duo_terms
from genomlab.platform.applications.identity import get_current_user

PROJECT_RULES = (
    "Outputs leave the workspace only through the airlock, after two output checkers.",
    "Cells with fewer persons than the minimum cell count fail the airlock's checks: "
    "publish aggregates, never person-level rows.",
    "No attempt to re-identify a person, to link the data with other sources or to contact "
    "anyone in them.",
)
"""The terms of use every member accepted, in one line each."""

ANCESTRY_ANALYSES = frozenset({"fst_by_ancestry", "frequencies_by_ancestry",
                               "diversity_by_ancestry"})
"""Analyses of population origins or ancestry: what DUO's NPOA forbids and POA is for."""

FORBIDDEN_BY: dict[str, frozenset[str]] = {"NPOA": ANCESTRY_ANALYSES}
"""DUO term → the analysis kinds it forbids (ancestry PCs as covariates are adjustment, not
research into origins, and stay allowed)."""


@dataclass(frozen=True)
class ProjectContext:
    """The member's project as a notebook needs it (paths absolute, from the home)."""

    project_id: str
    member: str
    valid_until: date
    workspace: Path
    duo_codes: tuple[str, ...]

    @property
    def release(self) -> Path:
        return self.workspace / "release"

    @property
    def qc_dir(self) -> Path:
        return self.workspace / "qc"

    def get_out_dir(self, name: str) -> Path:
        """``<workspace>/analysis/<name>``: where a notebook writes (inside the workspace)."""
        return self.workspace / "analysis" / name

    def get_scratch(self) -> Path:
        """``<workspace>/scratch/<member>`` (0700, made if missing): the member's own scratch
        (their decrypted release, a Hail session's scratch folders and log)."""
        import os

        from genomlab.workspace.crypt4gh_release import SCRATCH

        folder = self.workspace / SCRATCH / self.member
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        return folder

    def describe_duo_terms(self) -> list[str]:
        """``"HMB (DUO:0000006): health or medical or biomedical research"``, one per term."""
        terms = get_duo_terms()
        return [f"{code} ({terms[code].id}): {terms[code].label}" for code in self.duo_codes]

    def get_forbidden_analyses(self) -> frozenset[str]:
        """The analysis kinds the project's DUO terms forbid."""
        return frozenset().union(*(FORBIDDEN_BY.get(c, frozenset()) for c in self.duo_codes))

    def get_withdrawal_notices(self) -> list[dict[str, Any]]:
        """The withdrawal notices in ``<workspace>/notices`` (oldest first): persons whose
        data the project must delete (research consent withdrawn, data deleted)."""
        import json

        folder = self.workspace / "notices"
        if not folder.is_dir():
            return []
        notices = [json.loads(path.read_text()) for path in folder.glob("withdrawal-*.json")]
        return sorted(notices, key=lambda n: (n.get("date", ""), n.get("release_id", "")))

    def format_summary(self) -> str:
        """The plain-text header a notebook prints first (withdrawal notices included)."""
        lines = [f"Project {self.project_id}, member {self.member}, "
                 f"entitled until {self.valid_until.isoformat()}",
                 f"Release: {self.release}", "Data use terms (DUO):"]
        lines += [f"  - {text}" for text in self.describe_duo_terms()]
        lines += ["Rules:"] + [f"  - {rule}" for rule in PROJECT_RULES]
        notices = self.get_withdrawal_notices()
        if notices:
            persons = sorted({p for n in notices for p in n.get("project_pseudonyms", [])})
            lines += [f"WITHDRAWAL NOTICES ({len(notices)}): delete the data and derived "
                      f"results of {len(persons)} person(s): {', '.join(persons)}"]
        return "\n".join(lines)


def can_run_analysis(context: ProjectContext, analysis: str) -> bool:
    """Whether the project's DUO terms allow ``analysis`` (e.g. ``"fst_by_ancestry"``).

    Examples
    --------
    >>> ctx = ProjectContext("GDE-2026-0001", "alice", date(2027, 1, 1), Path("/w"),
    ...                      ("HMB", "IRB", "NPOA"))
    >>> can_run_analysis(ctx, "fst_by_ancestry"), can_run_analysis(ctx, "association")
    (False, True)
    """
    return analysis not in context.get_forbidden_analyses()


def get_project_context(config: GenomlabConfig | None = None, *, user: str | None = None,
                        project: str | None = None, at: datetime | None = None,
                        require_release: bool = True,
                        credentials: str | Path | None = None) -> ProjectContext:
    """The project ``user`` (default: the current member) may use now, with its DUO terms.

    ``project`` picks one when the member holds several entitlements. No Spark is started.

    Raises
    ------
    PermissionDenied
        The member holds no active entitlement (to ``project``).
    ValidationFailed
        Several projects and none chosen.
    NotFoundError
        ``require_release`` and nothing released to the project yet.
    """
    from genomlab.platform.person_session import get_member_projects

    config = config or load_config()
    member = user or get_current_user(config, credentials=credentials)
    entitlements = [e for e in get_member_projects(
        config, member, at, None if credentials is None else Path(credentials))
        if project is None or e["project_id"] == project]
    if not entitlements:
        raise PermissionDenied(f"user {member!r} holds no active entitlement"
                               + (f" to project {project}" if project else "")
                               + "; a researcher sees only an approved project's release")
    if len({e["project_id"] for e in entitlements}) > 1:
        names = ", ".join(sorted({e["project_id"] for e in entitlements}))
        raise ValidationFailed(f"user {member!r} is on several projects ({names}); "
                               "set the notebook's project parameter")
    entitlement = entitlements[0]
    context = ProjectContext(entitlement["project_id"], member,
                             date.fromisoformat(entitlement["valid_until"]),
                             config.workspace_dir(entitlement["project_id"]),
                             tuple(entitlement["duo_codes"]))
    if require_release and not (context.release / "manifest.json").exists():
        raise NotFoundError(f"{context.release}: nothing has been released to project "
                            f"{context.project_id} yet")
    return context


def check_qc_outputs(qc_dir: Path) -> Path:
    """``qc_dir`` if the cohort QC's tables are there; else a one-line error naming what to run.

    Examples
    --------
    >>> check_qc_outputs(Path("/nonexistent/qc"))
    Traceback (most recent call last):
    ...
    genomlab.errors.NotFoundError: /nonexistent/qc/sample_qc.tsv: no cohort QC yet; run ...
    """
    for name in ("sample_qc.tsv", "variant_qc.tsv", "pca_scores.tsv"):
        if not (qc_dir / name).is_file():
            raise NotFoundError(f"{qc_dir / name}: no cohort QC yet; run cohort_qc.ipynb first")
    return qc_dir


@dataclass(frozen=True)
class NotebookInputs:
    """Absolute inputs and outputs of a researcher notebook, checked before Spark starts."""

    context: ProjectContext | None
    vcf: Path | None
    release: Path | None
    qc_dir: Path
    out_dir: Path


def _absolute(value: str | Path | None) -> Path | None:
    return None if value in (None, "") else Path(str(value)).expanduser().resolve()


def get_notebook_inputs(config: GenomlabConfig, name: str, *, project: str | None = None,
                        user: str | None = None, credentials: str | Path | None = None,
                        vcf: str | Path | None = None,
                        release: str | Path | None = None, qc_dir: str | Path | None = None,
                        out_dir: str | Path | None = None,
                        at: datetime | None = None) -> NotebookInputs:
    """The notebook's inputs: by default the member's project release, its QC folder and
    ``<workspace>/analysis/<name>``; with ``vcf`` a VCF outside any project (``out_dir`` then
    required). Paths resolve against the home, not the kernel's working directory.

    Raises
    ------
    NotFoundError, PermissionDenied, ValidationFailed
        One line naming the missing file, the refused member or the parameter to set.
    """
    if vcf not in (None, "") and release not in (None, ""):
        raise ValidationFailed("set vcf or release, not both")
    if vcf not in (None, ""):
        vcf_path = _absolute(vcf)
        assert vcf_path is not None
        if not vcf_path.is_file():
            raise NotFoundError(f"{vcf_path}: VCF not found")
        out = _absolute(out_dir)
        if out is None:
            raise ValidationFailed("with a VCF, set out_dir (a project release needs none)")
        return NotebookInputs(None, vcf_path, None, _absolute(qc_dir) or out, out)
    context = get_project_context(config, user=user, project=project, at=at,
                                  credentials=credentials)
    chosen = _absolute(release) or context.release
    if chosen != context.release.resolve():
        raise PermissionDenied(f"{chosen}: not the release of project {context.project_id}; "
                               f"a member reads only {context.release}")
    return NotebookInputs(context, None, context.release, _absolute(qc_dir) or context.qc_dir,
                          _absolute(out_dir) or context.get_out_dir(name))


def is_qc_current(qc_dir: Path, inputs: NotebookInputs) -> bool:
    """Whether ``qc_dir`` holds a complete QC run of these inputs, newer than them (so a
    notebook shows it instead of running Hail again)."""
    provenance = qc_dir / "qc_provenance.json"
    tables = [qc_dir / n for n in ("sample_qc.tsv", "variant_qc.tsv", "pca_scores.tsv",
                                   "relatedness.tsv")]
    if not provenance.is_file() or not all(t.is_file() for t in tables):
        return False
    import json

    ran_on = json.loads(provenance.read_text()).get("inputs", {})
    source = inputs.release if inputs.release is not None else inputs.vcf
    key = "release" if inputs.release is not None else "vcf"
    if source is None or _absolute(ran_on.get(key)) != source:
        return False
    stamp = source / "manifest.json" if inputs.release is not None else source
    return min(t.stat().st_mtime for t in tables) >= stamp.stat().st_mtime


def compute_pc_variance_explained(qc_dir: Path, scores: Any) -> dict[str, float]:
    """Share of the genotype variance each PC explains, estimated by a PCA with every component
    on the QC's exported calls over the samples the QC's PCA used (its unprojected ones)."""
    import numpy as np

    from genomlab.workspace.qc.ancestry import compute_pca_with_relateds
    from genomlab.workspace.qc.pipeline import read_qc_genotypes

    gm = read_qc_genotypes(qc_dir)
    used = set(scores.loc[~scores["projected"].astype(bool), "sample"])
    mask = np.array([s in used for s in gm.samples])
    if mask.sum() < 3:
        return {}
    _, eigenvalues = compute_pca_with_relateds(gm, mask, k=int(mask.sum()))
    total = float(eigenvalues.sum())
    n_pcs = len([c for c in scores.columns if str(c).startswith("PC")])
    return {f"PC{i + 1}": float(v) / total for i, v in enumerate(eigenvalues[:n_pcs])
            } if total > 0 else {}


def use_one_line_errors() -> None:
    """In IPython, genomlab's errors show as one line (``NotFoundError: <file>: ...``) instead
    of a traceback; other exceptions keep theirs."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - outside Jupyter
        return
    from genomlab.errors import GenomlabError

    shell = get_ipython()
    if shell is None:
        return

    def one_line(shell: Any, etype: type, value: BaseException, tb: Any,
                 tb_offset: int | None = None) -> None:
        shell._showtraceback(etype, value, [f"{etype.__name__}: {value}"])

    shell.set_custom_exc((GenomlabError,), one_line)


def display_figure(fig: Any) -> None:
    """Show a matplotlib figure (built without pyplot) inline as a PNG."""
    import io

    from IPython.display import Image, display

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    display(Image(data=buffer.getvalue()))


def start_hail_quietly(config: GenomlabConfig, *, master: str | None, log: Path,
                       scratch: Path | None = None) -> Any:
    """Hail through :func:`~genomlab.hail_session.init_hail`, with Spark's start-up lines and
    the JVM's later output going to ``log`` instead of the notebook's outputs; ``scratch``
    (the member's, :meth:`ProjectContext.get_scratch`) holds the session's scratch folders and
    Hail's log instead of the home's ``tmp`` and ``logs``, which a person's server behind the
    hub may not write.

    The JVM inherits the process's stdout and stderr when it starts: both point at ``log``
    while it starts (and stay so for the JVM), then back at the kernel's.
    """
    import os
    import sys

    from genomlab.hail_session import init_hail

    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    from IPython.utils.capture import capture_output

    saved = (os.dup(1), os.dup(2))
    try:
        with log.open("ab") as sink:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            with capture_output():  # Hail's bokeh set-up displays into the notebook
                return init_hail(config, master=master, scratch=scratch)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def run_in_worker_thread[T](function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)`` in a thread of its own, waited for.

    Hail nests its event loop in a running one (``nest_asyncio`` on the kernel's loop), which
    breaks ipykernel's own tasks in JupyterLab ("cannot enter context ... already entered",
    a cell left running). In a worker thread Hail finds no running loop and makes its own.
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="genomlab-hail") as pool:
        return pool.submit(function, *args, **kwargs).result()
