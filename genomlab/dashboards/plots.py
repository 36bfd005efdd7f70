"""Plots of the operator dashboards: a distinct colour for every series, shown with alt text."""

from __future__ import annotations

import base64
import html
import io
from typing import Any


def get_series_colours(n: int) -> list[str]:
    """``n`` distinct colours: matplotlib's ``tab10`` up to ten series, ``tab20`` up to twenty,
    then evenly spaced hues of ``hsv`` (never a repeated colour, as the default cycle repeats
    after ten).

    Examples
    --------
    >>> get_series_colours(2)
    ['#1f77b4', '#ff7f0e']
    >>> len(set(get_series_colours(14))), len(set(get_series_colours(33)))
    (14, 33)
    """
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    if n <= 10:
        return [to_hex(c) for c in colormaps["tab10"].colors[:n]]  # type: ignore[attr-defined]
    if n <= 20:
        return [to_hex(c) for c in colormaps["tab20"].colors[:n]]  # type: ignore[attr-defined]
    return [to_hex(colormaps["hsv"](i / n)) for i in range(n)]


def figure_html(fig: Any, alt: str) -> str:
    """A matplotlib figure as an ``<img>`` with ``alt`` text (what screen readers say), closed
    after rendering."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode()
    return (f'<img class="genomlab-plot" alt="{html.escape(alt, quote=True)}" '
            f'src="data:image/png;base64,{data}">')
