"""The security part of the watermark benchmark (synthmark only): forging the mark onto
photos, removing it by averaging many marked images, regenerating the image.

For each marked image of the benchmark (:class:`SecurityRun`, fed by
:func:`~synthmark.eval.watermark_bench.run_benchmark`):

* **copy** (:class:`~synthmark.attacks.security.CopyAttack`): its high-pass residual is
  added to an unrelated real photo (the data set's ``real*`` folders, another image for
  each donor). Counted: forged photos that read ``present``, with the donor's serial,
  ``bound`` (the only state that counts as ``synthetic`` on the watermark's word) and
  ``copied`` (what a registry reports); the PSNR is the forgery's against the host;
* **average:N** (:class:`~synthmark.attacks.security.AveragingAttack`): the mean
  residual of ``N`` other marked images of the same size (same key, random payloads,
  disjoint from the benchmark's images) is subtracted at the attack's PSNR; counted: still
  read with the exact payload, and still ``bound``;
* **regen** (:class:`~synthmark.attacks.regen.Regenerator`): encoded and decoded by
  TAEF2; skipped with a note when the weights are absent.

The registry is simulated: the description each marked image would get in ``generate``
(:func:`~synthmark.watermark.attribution.describe_content`) is kept with its payload.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from synthmark.attacks.regen import Regenerator
from synthmark.attacks.security import (
    AveragingAttack,
    CopyAttack,
    get_security_attack,
    highpass_residual,
)
from synthmark.eval.watermark_data import Roots, bench_images
from synthmark.watermark import WatermarkScheme
from synthmark.watermark.attribution import attribute, describe_content
from synthmark.watermark.base import Readout
from synthmark.watermark.quality import psnr

__all__ = ["SecurityConfig", "SecurityRow", "SecurityRun", "attribution_of"]

DEFAULT_COPIES = ("copy:median:0.5", "copy:median:1", "copy:gauss:0.5", "copy:gauss:1")
DEFAULT_AVERAGES = (
    "average:10", "average:40", "average:100", "average:10:32", "average:40:32", "average:100:32"
)


@dataclass
class SecurityConfig:
    """Which security attacks run. ``regen_weights``: the TAEF2 folder (None: the
    default search of :func:`~synthmark.attacks.regen.weights_folder`)."""

    copies: Sequence[str] = DEFAULT_COPIES
    averages: Sequence[str] = DEFAULT_AVERAGES
    regen: bool = True
    regen_weights: str | None = None
    #: host photos come from the data set's folders whose name starts with this
    host_prefix: str = "real"

    def to_dict(self) -> dict[str, Any]:
        return {
            "copies": list(self.copies),
            "averages": list(self.averages),
            "regen": self.regen,
            "regen_weights": self.regen_weights,
            "host_prefix": self.host_prefix,
        }


@dataclass
class SecurityRow:
    """One security attack at one size. ``psnr_*``: the forgery against its host (copy),
    the attacked image against the marked one (average, regen). ``exact``: present with
    the marked payload (copy: the donor's). ``bound`` and ``copied``: the attribution a
    registry gives."""

    attack: str
    size: int
    n: int
    psnr_mean: float
    psnr_min: float
    present: float
    exact: float
    bound: float
    copied: float


def attribution_of(image: Image.Image, readout: Readout, description: bytes) -> str:
    """The attribution of a present read whose serial is registered with ``description``."""
    state, _ = attribute(image, readout.details, description, registry=True, registered=True)
    return state.value


@dataclass
class _Tally:
    psnrs: list[float] = field(default_factory=list)
    present: int = 0
    exact: int = 0
    bound: int = 0
    copied: int = 0

    def add(self, cost: float, readout: Readout, payload: bytes, state: str | None) -> None:
        self.psnrs.append(min(cost, 99.0))
        self.present += readout.present
        self.exact += readout.present and readout.payload == payload
        self.bound += state == "bound"
        self.copied += state == "copied"


class SecurityRun:
    """The security attacks on the marked images of one size (see the module doc).

    Args:
        config: which attacks.
        scheme: the synthmark scheme of the benchmark (its key).
        data_dir: the data set.
        size: the square size.
        targets: the benchmark's images at this size (labels are kept out of the pools).
        say: progress lines.
    """

    def __init__(
        self,
        config: SecurityConfig,
        scheme: WatermarkScheme,
        data_dir: Roots,
        size: int,
        targets: Sequence[tuple[str, Image.Image]],
        say: Callable[[str], None],
    ) -> None:
        self.config = config
        self.scheme = scheme
        self.data_dir = data_dir
        self.size = size
        self.targets = targets
        self.say = say
        self.notes: list[str] = []
        self.copies = [get_security_attack(name) for name in config.copies]
        self.averages = [get_security_attack(name) for name in config.averages]
        self.regen = Regenerator(config.regen_weights) if config.regen else None
        self.hosts: list[Image.Image] = []
        self.patterns: dict[tuple[int, str], NDArray[np.float32]] = {}
        self.tallies: dict[str, _Tally] = {}
        self._index = 0

    def prepare(self, payload: Callable[[], bytes]) -> None:
        """Pick the host photos and mark the averaging pool (the largest ``N``)."""
        labels = frozenset(label for label, _ in self.targets)
        hosts = bench_images(
            self.data_dir, self.size, len(self.targets), 1009, self.config.host_prefix, labels
        )
        self.hosts = [image for _, image in hosts]
        averages = [a for a in self.averages if isinstance(a, AveragingAttack)]
        if averages:
            self._pool(averages, labels, payload)
        if self.regen is not None and not self.regen.available:
            self.notes.append(f"regen skipped: no TAEF2 weights in {self.regen.folder}")
            self.regen = None

    def _pool(
        self, averages: list[AveragingAttack], exclude: frozenset[str], payload: Callable[[], bytes]
    ) -> None:
        wanted = max(a.n for a in averages)
        pool = bench_images(self.data_dir, self.size, wanted, 2003, "", exclude)
        filters = sorted({a.filter for a in averages})
        sums = {f: np.zeros((self.size, self.size, 3), np.float32) for f in filters}
        snapshots = sorted({a.n for a in averages})
        for count, (_, image) in enumerate(pool, start=1):
            marked = self.scheme.embed(image, payload())
            for f in filters:
                sums[f] += highpass_residual(marked, f)
            if count in snapshots:
                for f in filters:
                    self.patterns[(count, f)] = sums[f] / np.float32(count)
        self.say(f"  averaging pool @ {self.size}: {len(pool)} marked images")
        for a in averages:
            if (a.n, a.filter) not in self.patterns:
                self.notes.append(
                    f"{a.name} skipped at {self.size} px: only {len(pool)} pool images"
                )

    def _read(self, image: Image.Image, description: bytes) -> tuple[Readout, str | None]:
        readout = self.scheme.extract(image)
        state = attribution_of(image, readout, description) if readout.present else None
        return readout, state

    def observe(self, marked: Image.Image, payload: bytes, description: bytes | None) -> None:
        """Every security attack on one marked image."""
        description = description if description is not None else describe_content(marked)
        host = self.hosts[self._index % len(self.hosts)] if self.hosts else None
        self._index += 1
        for attack in self.copies:
            if isinstance(attack, CopyAttack) and host is not None:
                forged = attack.apply(marked, host)
                readout, state = self._read(forged, description)
                self._tally(attack.name).add(psnr(host, forged), readout, payload, state)
        for attack in self.averages:
            if isinstance(attack, AveragingAttack) and (attack.n, attack.filter) in self.patterns:
                cleaned = attack.apply(marked, self.patterns[(attack.n, attack.filter)])
                readout, state = self._read(cleaned, description)
                self._tally(attack.name).add(psnr(marked, cleaned), readout, payload, state)
        if self.regen is not None:
            regenerated = self.regen(marked)
            readout, state = self._read(regenerated, description)
            self._tally("regen").add(psnr(marked, regenerated), readout, payload, state)

    def _tally(self, name: str) -> _Tally:
        return self.tallies.setdefault(name, _Tally())

    def rows(self) -> list[SecurityRow]:
        out = []
        for name, t in self.tallies.items():
            n = len(t.psnrs)
            out.append(
                SecurityRow(
                    name,
                    self.size,
                    n,
                    float(np.mean(t.psnrs)),
                    float(np.min(t.psnrs)),
                    t.present / n,
                    t.exact / n,
                    t.bound / n,
                    t.copied / n,
                )
            )
        return out
