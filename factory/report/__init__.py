"""The evaluation report (the paper's §IV experiments): experiments, PNG figures and ``report.md``.

Modules hand the report writer :class:`Figure` and :class:`Table` records; the writer lays them out in
``report.md`` with each figure's one-line reading and how it was measured under it.

Layout: ``config`` (the ``evaluate`` params section) → ``context`` (bundle, ground truth, device models,
latencies) → ``runs`` (one cached in-process replay per configuration) → ``experiments`` (run definitions and
their numbers) → ``plots_tradeoff`` / ``plots_components`` (PNGs) and ``tables`` (paper beside ours) →
``sections`` → ``writer``; ``build.build_report`` drives it for ``cli`` (``paraloupe-report``) and the DVC
stage. Pure helpers: ``metrics`` (speedup / gain), ``rois``, ``latency``, ``paper`` (the paper's numbers).
The cluster figures come from ``cluster`` / ``cluster_figures`` through ``cluster_hook``. ``per_video`` gives
each video's methods their F1 / AP50 / latency (DVC and MLflow metrics) and draws their frame ``strips``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Figure:
    """One PNG figure: ``key`` (e.g. ``fig17``), ``title``, ``png`` path relative to the report folder,
    ``reading`` (one line: what the figure shows, with the numbers), ``measured`` (machine, threads,
    emulated or measured device, videos and frames)."""

    key: str
    title: str
    png: str
    reading: str
    measured: str


@dataclass
class Table:
    """A markdown table: ``header`` cells, ``rows`` of cells (already formatted), a ``caption`` line."""

    key: str
    caption: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def markdown(self) -> str:
        """The table as GitHub markdown, caption first."""
        lines = [f"**{self.caption}**", "", "| " + " | ".join(self.header) + " |",
                 "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines)
