"""``report.md``: sections of tables, figures and paragraphs; each figure followed by its reading and how it
was measured. Figure paths are written relative to the markdown file, and a figure whose PNG is missing is
an error (a report never links to nothing).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from factory.report import Figure, Table
from runtime.atomic import atomic_open
from runtime.errors import UserError

Item = Figure | Table | str


@dataclass
class Section:
    """A ``##`` section: a title and its items in order (Figure, Table or a markdown paragraph)."""

    title: str
    items: list[Item] = field(default_factory=list)


def figure_markdown(fig: Figure, png_dir: Path, md_dir: Path) -> str:
    """The markdown of one figure: image link, then its reading and how it was measured."""
    path = png_dir / fig.png
    if not path.is_file():
        raise UserError(f"report: figure {fig.key}: {path} does not exist")
    link = Path(os.path.relpath(path, md_dir)).as_posix()
    return (f"### {fig.title}\n\n![{fig.key}]({link})\n\n**Reading.** {fig.reading}\n\n"
            f"*Measured:* {fig.measured}")


def render(title: str, preamble: Sequence[str], sections: Sequence[Section], png_dir: Path, md_dir: Path) -> str:
    """The whole report as markdown text."""
    parts = [f"# {title}", *preamble]
    for s in sections:
        parts.append(f"## {s.title}")
        for item in s.items:
            if isinstance(item, Figure):
                parts.append(figure_markdown(item, png_dir, md_dir))
            elif isinstance(item, Table):
                parts.append(item.markdown())
            else:
                parts.append(str(item))
    return "\n\n".join(parts) + "\n"


def write_report(path: Path, title: str, preamble: Sequence[str], sections: Sequence[Section],
                 png_dir: Path) -> Path:
    """Render and write ``path`` atomically; returns it."""
    text = render(title, preamble, sections, png_dir, path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as handle:
        handle.write(text)
    return path


def figures_of(sections: Sequence[Section]) -> list[Figure]:
    """Every figure in ``sections``, in order."""
    return [i for s in sections for i in s.items if isinstance(i, Figure)]
