"""The report's netns variant: the Fig. 22–24 runs again with every process in its own network namespace and
each server link shaped to the paper's Wi-Fi (``--cluster netns:N --link 300mbit``), or one line saying why
namespaces cannot be made here."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING

from runtime.errors import UserError

if TYPE_CHECKING:
    from factory.report.cluster import RunSpec

NETNS_PREFIX = "netns-"  # run-name prefix of the netns variant
NETNS_LINK = "300mbit"  # every server link of the netns variant (the paper's Wi-Fi), given explicitly: a change of
#                         runtime's default must not silently change what a cached run means
NETNS_FIGURES = ("fig22-", "fig23-", "fig24-")  # the runs the netns variant repeats (not scale-*, not real-*)


def netns_variant(specs: Iterable[RunSpec], link: str = NETNS_LINK) -> list[RunSpec]:
    """The netns copies of the Fig. 22–24 runs among ``specs`` (same arguments, ``--cluster netns:N --link
    LINK``, names prefixed ``netns-``)."""
    return [dataclasses.replace(s, name=NETNS_PREFIX + s.name, cluster="netns", link=link)
            for s in specs if s.cluster == "local" and s.name.startswith(NETNS_FIGURES)]


def netns_unavailable() -> str | None:
    """Why ``--cluster netns:N`` cannot run here (one line), or None when it can: root, iproute2, kernel
    support (:func:`runtime.cluster.netns.check_available`)."""
    try:
        from runtime.cluster.netns import check_available

        check_available()
    except UserError as exc:
        return str(exc).splitlines()[0] if str(exc) else "network namespaces are unavailable"
    except ImportError as exc:
        return f"runtime.cluster.netns is not importable ({exc})"
    return None


def netns_skip_line(reason: str) -> str:
    """The report's one line when the netns variant was asked for but cannot run."""
    return f"**netns variant (Fig. 22–24): skipped** — {reason.rstrip('.')}."
