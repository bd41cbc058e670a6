"""Sphinx configuration of graphmeta's API reference (built from the docstrings: ``sphinx-build -W docs/api
docs/api/_build``; CI builds it with warnings as errors)."""

import graphmeta

project = "graphmeta"
release = graphmeta.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the signatures show them; numpy/torch types in descriptions would not resolve
napoleon_google_docstring = True
napoleon_numpy_docstring = False
exclude_patterns = ["_build"]
html_theme = "alabaster"
