"""MkDocs hook: the README is the site's home page (index.md), so the two never disagree.

The README links into the docs as `docs/PAGE.md` and shows `docs/figures/...`, which is right on
GitHub; on the site the home page sits inside docs/, so those links lose their `docs/` prefix.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File


def home_page(readme: str) -> str:
    """The README's text as docs/index.md: links and images into docs/ made relative to it."""
    return re.sub(r"\]\(docs/", "](", readme)


def on_files(files, config):
    readme = Path(config.config_file_path).parent / "README.md"
    files.append(File.generated(config, "index.md", content=home_page(readme.read_text(encoding="utf-8"))))
    return files
