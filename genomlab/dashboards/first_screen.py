"""Server-rendered first screen for Voila dashboards.

Voila's lab template sends every output as JSON that its JavaScript renders, and widgets appear
only after the browser has loaded the widget manager, opened the kernel's websocket and fetched
the widget state: about 1.5 s in Chromium on two cores even when the kernel is preheated. So a
dashboard is shown twice:

1. a static snapshot of its HTML parts (the queue or register page as it is now), inside
   ``div.genomlab-first-screen``; genomlab's Voila template (``jupyter/voila/templates/genomlab``,
   see :func:`get_voila_command`) writes this output into the page as HTML, so it is visible
   before any script runs;
2. the live widgets, carrying a ``<style>`` that hides the snapshot once they render.

The snapshot holds only ``widgets.HTML`` values the dashboard already built (escaped text), so
it shows nothing the widgets would not; controls (filters, buttons) exist only in the live part.
In JupyterLab the same two outputs appear and the snapshot hides the same way.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

#: The ``JUPYTER_PATH`` entry holding ``voila/templates/genomlab``.
TEMPLATE_ROOT = Path(__file__).resolve().parent / "jupyter"
TEMPLATE_NAME = "genomlab"
FIRST_SCREEN_CLASS = "genomlab-first-screen"
HIDE_FIRST_SCREEN = f"<style>.{FIRST_SCREEN_CLASS} {{display: none}}</style>"


def get_static_html(widget: Any) -> str:
    """The values of every ``widgets.HTML`` inside ``widget``, in display order.

    Examples
    --------
    >>> import ipywidgets as widgets
    >>> box = widgets.VBox([widgets.HTML("<p>a</p>"), widgets.HBox([widgets.Button(),
    ...                                                         widgets.HTML("<p>b</p>")])])
    >>> get_static_html(box)
    '<p>a</p><p>b</p>'
    """
    import ipywidgets as widgets

    if isinstance(widget, widgets.HTML):
        return str(widget.value)
    return "".join(get_static_html(child) for child in getattr(widget, "children", ()))


def show_with_first_screen(widget: Any) -> None:
    """Display a static snapshot of ``widget`` and then ``widget`` itself, which hides the
    snapshot when the browser renders it.

    Examples
    --------
    Outside a notebook ``display`` prints what it shows:

    >>> import ipywidgets as widgets
    >>> show_with_first_screen(widgets.HTML("<p>register</p>"))
    <IPython.core.display.HTML object>
    VBox(children=(HTML(value='<style>.genomlab-first-screen {display: none}</style>'), HTML(...
    """
    import ipywidgets as widgets
    from IPython.display import HTML, display

    display(HTML(f'<div class="{FIRST_SCREEN_CLASS}">{get_static_html(widget)}</div>'),
            metadata={"genomlab": {"first_screen": True}})
    display(widgets.VBox([widgets.HTML(HIDE_FIRST_SCREEN), widget]))


def get_voila_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default ``os.environ``) with genomlab's Voila template on ``JUPYTER_PATH``.

    Examples
    --------
    >>> str(TEMPLATE_ROOT) in get_voila_environment({})["JUPYTER_PATH"]
    True
    """
    env = dict(os.environ if environ is None else environ)
    env["JUPYTER_PATH"] = os.pathsep.join(
        p for p in (str(TEMPLATE_ROOT), env.get("JUPYTER_PATH", "")) if p)
    return env


def get_voila_command(notebook: Path, port: int, *options: str) -> list[str]:
    """The command serving ``notebook`` with genomlab's template on 127.0.0.1:``port`` (run it
    with :func:`get_voila_environment`); ``options`` are further Voila options.

    Examples
    --------
    >>> get_voila_command(Path("register.ipynb"), 8866)[3:]
    ['register.ipynb', '--port=8866', '--no-browser', '--Voila.ip=127.0.0.1', '--template=genomlab']
    """
    return [sys.executable, "-m", "voila", str(notebook), f"--port={port}", "--no-browser",
            "--Voila.ip=127.0.0.1", f"--template={TEMPLATE_NAME}", *options]
