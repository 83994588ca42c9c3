"""Sphinx configuration of the spikeforge documentation (built by ``make docs``, warnings are errors).

Pages are Markdown (MyST); the API reference comes from the docstrings (autodoc + napoleon,
NumPy style).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sdk"))
os.environ.setdefault("SPIKEFORGE_DOCS", "1")

from spikeforge import __version__  # noqa: E402

project = "spikeforge"
author = "The spikeforge developers"
copyright = "2026, The spikeforge developers"  # noqa: A001
release = version = __version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
# Cross-references the docs make to files outside this folder (integrations/, samples/) are plain
# links to the repository, not pages of this site.
suppress_warnings = ["myst.xref_missing", "myst.header"]
nitpicky = False
html_theme = "furo"
html_title = f"spikeforge {release}"
