"""The report's cluster section (Fig. 22/23/24, end-to-end latency), produced by the cluster experiments.

The contract is two names, looked up in ``factory.report.cluster`` then ``factory.report.cluster_figures``:
``run_cluster_experiments(...)`` (real multi-process cluster runs; returns its results) and
``cluster_figures(results, ...)`` (returns Figure/Table records or markdown strings — nested lists/tuples
are flattened — whose PNGs lie in the report folder). Each is called with the keywords it declares among
:func:`_pool`'s; the first required positional parameter of ``cluster_figures`` that is not among them receives
the results. When the module is
absent the section says "cluster figures: not produced"; an error there is reported, not raised.
``netns`` (``paraloupe-report --netns``) is in the pool: the Fig. 22–24 runs again on ``--cluster netns:N``.
The cluster results' ``numbers`` are written to ``<out_dir>/cluster_numbers.json``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from factory.report import Figure, Table
from factory.report.context import Context
from factory.report.writer import Section
from runtime.atomic import write_json

TITLE = "Cluster figures (Fig. 22/23/24, end-to-end latency)"
MODULES = ("factory.report.cluster", "factory.report.cluster_figures")


def _find(name: str) -> Callable[..., Any] | None:
    for module in MODULES:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        if callable(getattr(mod, name, None)):
            return getattr(mod, name)
    return None


def _pool(ctx: Context, results: Mapping[str, Any], log: Callable[[str], None],
          netns: bool = False) -> dict[str, Any]:
    bundle = Path(ctx.env.bundle_dir)
    return {"params": ctx.params, "bundle": bundle, "bundle_dir": bundle, "manifest": ctx.env.manifest,
            "out_dir": ctx.out_dir, "cache_dir": ctx.out_dir / "cache", "full": ctx.full, "quick": not ctx.full,
            "videos": [v for v in ctx.params.videos if v.name in ctx.world],
            "real": ctx.params.real if ctx.real else None, "real_frames": ctx.scope.real_frames, "log": log,
            "context": ctx, "ctx": ctx, "accuracy": results, "netns": netns}


def _flatten(items: Any) -> list[Any]:
    if isinstance(items, (list, tuple)):
        return [x for i in items for x in _flatten(i)]
    return [] if items is None else [items]


def _call(fn: Callable[..., Any], pool: Mapping[str, Any], first: Any = None) -> Any:
    args, kwargs = [], {}
    for name, p in inspect.signature(fn).parameters.items():
        if name in pool and p.kind is not inspect.Parameter.POSITIONAL_ONLY:
            kwargs[name] = pool[name]
        elif (first is not None and not args and p.default is inspect.Parameter.empty
              and p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)):
            args.append(first)
    return fn(*args, **kwargs)


def cluster_section(ctx: Context, results: Mapping[str, Any], log: Callable[[str], None],
                    netns: bool = False, sink: dict[str, Any] | None = None) -> Section:
    """The cluster section, from the cluster module's two functions or a marked "not produced"; ``netns``: also
    the netns variant of Fig. 22–24 (skipped with one line where namespaces cannot be made); ``sink``: receives
    the cluster results under ``"results"`` (for the headline table)."""
    try:
        run, figures = _find("run_cluster_experiments"), _find("cluster_figures")
    except Exception as exc:  # noqa: BLE001 — a broken module must not lose the rest of the report
        return Section(TITLE, [f"**cluster figures: not produced** — importing the cluster module failed: {exc!r}"])
    if run is None or figures is None:
        return Section(TITLE, ["**cluster figures: not produced** — `factory/report/cluster.py` "
                               "(`run_cluster_experiments`, `cluster_figures`) is not in this checkout."])
    pool = _pool(ctx, results, log, netns)
    try:
        cluster_results = _call(run, pool)
        if sink is not None:
            sink["results"] = cluster_results
        if isinstance(cluster_results, Mapping) and isinstance(cluster_results.get("numbers"), Mapping):
            write_json(ctx.out_dir / "cluster_numbers.json", cluster_results["numbers"])
        items = _flatten(_call(figures, {**pool, "results": cluster_results}, cluster_results))
    except Exception as exc:  # noqa: BLE001
        log(f"cluster experiments failed: {exc!r}")
        return Section(TITLE, [f"**cluster figures: not produced** — the cluster experiments failed: {exc!r}"])
    kept: list[Any] = []
    for item in items:
        if isinstance(item, Figure) and not (ctx.out_dir / item.png).is_file():
            kept.append(f"**{item.key}: not produced** — its PNG {ctx.out_dir / item.png} is missing.")
        elif isinstance(item, (Figure, Table, str)):
            kept.append(item)
    return Section(TITLE, kept or ["**cluster figures: not produced** — the cluster module returned nothing."])
