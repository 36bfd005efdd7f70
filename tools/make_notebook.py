"""Write a thin notebook from a list of cells: ``parameters`` first, then code that calls genomlab.

Notebooks in ``notebooks/`` are generated from small specs so that they stay thin and diff well:
``python tools/make_notebook.py OUT.ipynb 'PARAMS' 'CELL' ['CELL' ...]``.
"""

from __future__ import annotations

import sys

import nbformat


def make_notebook(path: str, parameters: str, *cells: str, title: str = "") -> None:
    nb = nbformat.v4.new_notebook()
    if title:
        nb.cells.append(nbformat.v4.new_markdown_cell(title))
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells.append(params)
    nb.cells += [nbformat.v4.new_code_cell(cell) for cell in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, path)


if __name__ == "__main__":
    make_notebook(sys.argv[1], sys.argv[2], *sys.argv[3:])
