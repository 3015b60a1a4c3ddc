"""The named choices of the runtime: client modes and scheduling policies, one enum each.

Each enum is the single source of its values for argparse ``choices`` and help text, config validation
(:func:`runtime.config.from_mapping` converts a YAML string into a member and rejects any other value) and
dispatch. Members are ``str`` subclasses whose value is the word used on command lines, in configs and in
outputs (``str(Mode.EP4) == f"{Mode.EP4}" == "ep-4"``), so they compare equal to, hash like and serialise
(JSON) as those words.

Modes (``--mode``, ``cluster.yaml: client.mode``):

- ``paraloupe`` — the object-centric patch generator;
- ``baseline``, ``mini`` — the whole frame on the baseline model, or on the mini model;
- ``lastdet`` — patches around the last detections only;
- ``motion-regions`` — Frigate NVR's region choice: square regions around motion boxes, at least the mini model
  input side, merged by its cluster rule (ignores detections);
- ``sahi`` — SAHI's sliced inference on the baseline model: overlapping slices at its input side plus the whole
  frame, merged by greedy non-maximum merging (:mod:`runtime.sahi`, :class:`runtime.sahi_loop.SahiLoop`);
- ``ep-1``, ``ep-2``, ``ep-4``, ``ep-6``, ``ep-8`` — the frame cut into the CONVENTIONS EP-k layouts (columns ×
  rows) 1×1, 2×1, 2×2, 3×2, 4×2.

This module imports nothing of the runtime but its errors, so configs, clients, generators and the
scheduler can all import it.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal, TypeVar

from runtime.errors import UserError

C = TypeVar("C", bound="Choice")

ModelKind = Literal["baseline", "mini"]


class Choice(str, Enum):
    """A named choice: a ``str`` enum whose ``str()`` and ``format()`` are its value."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @classmethod
    def values(cls) -> list[str]:
        """Every value, in declaration order (argparse ``choices``)."""
        return [str(m.value) for m in cls]

    @classmethod
    def parse(cls: type[C], value: str, where: str) -> C:
        """The member whose value is ``value``; anything else is a one-line :class:`UserError` naming ``where``
        (``where: unknown 'x' (choose from a, b, ...)``)."""
        try:
            return cls(value)
        except ValueError:
            raise UserError(f"{where}: unknown {value!r} (choose from {', '.join(cls.values())})") from None


class Mode(Choice):
    """What the client sends for inference each frame (see the module docstring).

    EP members carry their layout (columns, rows); k = columns × rows is the number in the value."""

    _layout: tuple[int, int] | None

    def __new__(cls, value: str, layout: tuple[int, int] | None = None) -> Mode:
        member = str.__new__(cls, value)
        member._value_ = value
        member._layout = layout
        return member

    PARALOUPE = "paraloupe"
    BASELINE = "baseline"
    MINI = "mini"
    LASTDET = "lastdet"
    MOTION_REGIONS = "motion-regions"
    SAHI = "sahi"
    EP1 = "ep-1", (1, 1)
    EP2 = "ep-2", (2, 1)
    EP4 = "ep-4", (2, 2)
    EP6 = "ep-6", (3, 2)
    EP8 = "ep-8", (4, 2)

    @property
    def is_whole_frame(self) -> bool:
        """The whole frame goes to one model (``baseline``, ``mini``): no patch generator."""
        return self in (Mode.BASELINE, Mode.MINI)

    @property
    def is_patch_generator(self) -> bool:
        """A patch generator makes this mode's patches (:func:`runtime.patches.make_generator`): every mode but the
        whole-frame ones and ``sahi`` (whose slices are a fixed grid on the baseline model)."""
        return not self.is_whole_frame and self is not Mode.SAHI

    @property
    def uses_detections(self) -> bool:
        """The patch generator places patches from the last detections (``paraloupe``, ``lastdet``); EP-k and
        ``motion-regions`` ignore them, and whole-frame modes have no generator."""
        return self in (Mode.PARALOUPE, Mode.LASTDET)

    @property
    def ep_layout(self) -> tuple[int, int] | None:
        """EP-k: the (columns, rows) of the equal partition; None for other modes."""
        return self._layout

    @property
    def ep_k(self) -> int | None:
        """EP-k: k, the number of tiles; None for other modes."""
        return None if self._layout is None else self._layout[0] * self._layout[1]

    @property
    def model_kind(self) -> ModelKind:
        """The kind of model (bundle manifest ``kind``) the mode runs: ``baseline`` for baseline and sahi, else
        ``mini``."""
        return "baseline" if self in (Mode.BASELINE, Mode.SAHI) else "mini"

    @classmethod
    def generators(cls) -> list[Mode]:
        """The patch-generator modes, in declaration order."""
        return [m for m in cls if m.is_patch_generator]

    @classmethod
    def equal_partitions(cls) -> dict[int, Mode]:
        """The EP-k modes by k, ascending."""
        return {m.ep_k: m for m in cls if m.ep_k is not None}

    @classmethod
    def ep_layouts(cls) -> dict[int, tuple[int, int]]:
        """k → (columns, rows) of every EP-k mode, k ascending."""
        return {m._layout[0] * m._layout[1]: m._layout for m in cls if m._layout is not None}

    @classmethod
    def help_text(cls) -> str:
        """``paraloupe | baseline | ...``: every mode, for a ``--mode`` help line or a config field."""
        return " | ".join(cls.values())


class Solver(Choice):
    """Scheduling policies (:func:`runtime.scheduler.solve`, ``--solver``, ``--scheduler``,
    ``cluster.yaml: master.scheduler``)."""

    MARKOV = "markov"
    UNIFORM = "uniform"
    PROPORTIONAL = "proportional"
    GREEDY = "greedy"
    MILP = "milp"


class JpegChroma(Choice):
    """How a patch's JPEG stores colour (``patches.jpeg_chroma``): every pixel's (4:4:4) or one value per 2 × 2
    pixels (4:2:0, the usual JPEG default); the words avoid YAML 1.1's reading of ``4:4:4`` as a number. A
    person 6 px wide keeps little colour contrast at 4:2:0, and a patch is upscaled into its model, which
    magnifies the loss."""

    FULL = "yuv444"
    HALF = "yuv420"


class OutputBox(Choice):
    """Which box a tracked loop reports for a confirmed track hit in a frame (``loop.tracker.output_box``):
    the matched detection's own box, or the track's Kalman posterior (the detection smoothed by the track's
    history, as ByteTrack reports it)."""

    DETECTION = "detection"
    FILTERED = "filtered"


__all__ = ["Choice", "Mode", "ModelKind", "OutputBox", "Solver"]
