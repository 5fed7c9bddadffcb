"""Sphinx configuration of the infmae_mm documentation (MyST Markdown).

Build with ``make docs`` (warnings are errors). The model zoo, benchmark and
API pages are generated while the site builds by ``_ext/infmae_docs.py``
from ``model-index.yml``, the metafiles, ``docs/benchmarks/*.json`` and the
registries of the installed hosts.
"""
import os
import os.path as osp
import sys

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
sys.path.insert(0, REPO)
sys.path.insert(0, osp.join(HERE, '_ext'))
# Importing the hosts under Sphinx must not start threads or ask for a
# display: matplotlib (imported by the hosts' visualizers) draws off-screen.
os.environ.setdefault('MPLBACKEND', 'Agg')

# The version without importing the package (read from its version file).
_version = {}
with open(osp.join(REPO, 'infmae_mm', 'version.py'), encoding='utf-8') as f:
    exec(f.read(), _version)
__version__ = _version['__version__']

project = 'infmae_mm'
author = 'infmae_mm contributors'
copyright = '2024-2026, infmae_mm contributors'
version = release = __version__

extensions = [
    'myst_parser',
    'sphinx.ext.autodoc',
    'sphinx.ext.napoleon',
    'sphinx.ext.viewcode',
    'sphinx_copybutton',
    'infmae_docs',
]
source_suffix = {'.md': 'markdown'}
root_doc = 'index'
exclude_patterns = ['_build', '_ext', 'Thumbs.db', '.DS_Store']

# MyST: heading anchors for links such as page.md#a-section, $-free text.
myst_heading_anchors = 4
myst_enable_extensions = ['colon_fence']

# autodoc + napoleon: Google-style docstrings as the OpenMMLab code writes
# them; members in source order; type hints in the signature only.
autodoc_member_order = 'bysource'
autodoc_typehints = 'signature'
autodoc_default_options = {'exclude-members': '__init__'}
autoclass_content = 'both'
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = 'furo'
html_title = f'infmae_mm {release}'
html_static_path = []
copybutton_prompt_text = r'\$ |>>> '
copybutton_prompt_is_regexp = True
