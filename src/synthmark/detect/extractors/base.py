"""The contract every feature extractor keeps, and the registry that finds them by name.

An extractor turns a list of canonical RGB images (see :mod:`synthmark.detect.preprocess`)
into a 2-D float array, one row per image. Weight-free extractors ignore ``fit``; learned
ones (a CNN trained from scratch, a timm backbone) train or load weights there.

Extractors are scikit-learn estimators: ``__init__`` stores parameters (of JSON types),
which :meth:`~sklearn.base.BaseEstimator.get_params` reads back from its signature. They
persist as those parameters plus named arrays (stored in safetensors by the detector),
never as pickles: :meth:`FeatureExtractor.state_arrays` returns numpy arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from sklearn.base import BaseEstimator

from synthmark.errors import UsageError
from synthmark.names import NameRegistry

Features = NDArray[np.float32]


class FeatureExtractor(BaseEstimator):
    """Base class: ``fit`` (optional), ``transform``, parameters and arrays for saving."""

    #: Registry name.
    name: ClassVar[str] = ""
    #: Whether ``fit`` learns something from labelled images.
    trainable: ClassVar[bool] = False

    def fit(self, images: Sequence[Image.Image], labels: NDArray[np.int_]) -> FeatureExtractor:
        """Learn from images and 0/1 labels (1 = generated). Weight-free extractors do nothing."""
        return self

    def transform_one(self, image: Image.Image) -> Features:
        """Features of one canonical image, as a 1-D array."""
        raise NotImplementedError

    def transform(self, images: Sequence[Image.Image]) -> Features:
        """Features of each image, one row per image."""
        rows = [self.transform_one(im) for im in images]
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack(rows).astype(np.float32, copy=False)

    def state_arrays(self) -> dict[str, NDArray[Any]]:
        """Learned arrays to save (empty for weight-free extractors)."""
        return {}

    def load_state_arrays(self, arrays: dict[str, NDArray[Any]]) -> None:
        """Restore what :meth:`state_arrays` returned."""
        if arrays:
            raise UsageError(f"extractor {self.name!r} has no learned arrays, got {sorted(arrays)}")

    def describe(self) -> str:
        """One sentence for the model card."""
        return (
            self.__class__.__doc__.strip().splitlines()[0] if self.__class__.__doc__ else self.name
        )


#: The feature extractors by name, each registered by its module.
EXTRACTORS: NameRegistry[Callable[..., FeatureExtractor]] = NameRegistry(
    "feature extractor", sort=True
)


def register_extractor(name: str) -> Callable[[type[FeatureExtractor]], type[FeatureExtractor]]:
    """Class decorator adding an extractor to :data:`EXTRACTORS` under ``name``."""

    def deco(cls: type[FeatureExtractor]) -> type[FeatureExtractor]:
        EXTRACTORS.register(name, cls)
        cls.name = name
        return cls

    return deco


def list_extractors() -> list[str]:
    """Names of the registered extractors (combine several with ``+``: ``grid+spectrum``)."""
    return EXTRACTORS.names()


def create_extractor(spec: str, params: dict[str, Any] | None = None) -> FeatureExtractor:
    """An extractor by name; ``a+b`` concatenates the features of ``a`` and ``b``.

    ``params`` go to the constructor; for a combination, pass ``{"a": {...}, "b": {...}}``.

    Raises:
        ValueError: an unknown name (the message lists the known ones) or a bad parameter.
    """
    params = dict(params or {})
    names = [n.strip() for n in spec.split("+") if n.strip()]
    if not names:
        raise UsageError(f"empty feature extractor name; known: {', '.join(list_extractors())}")
    for name in names:
        _ = EXTRACTORS[name]  # an unknown name raises, listing the known ones
    if len(names) == 1:
        return _build(names[0], params)
    extra = sorted(set(params) - set(names))
    if extra:
        raise UsageError(f"parameters for {extra} given, but the combination is {spec!r}")
    return ConcatExtractor([_build(n, params.get(n, {})) for n in names])


def _build(name: str, params: dict[str, Any]) -> FeatureExtractor:
    extractor: FeatureExtractor = EXTRACTORS.create(name, **params)
    return extractor


class ConcatExtractor(FeatureExtractor):
    """Several extractors side by side; their features are concatenated."""

    name = "+"

    def __init__(self, parts: list[FeatureExtractor]) -> None:
        self.parts = parts

    @property
    def trainable(self) -> bool:  # type: ignore[override]
        return any(p.trainable for p in self.parts)

    @property
    def spec(self) -> str:
        """The registry spelling, e.g. ``grid+spectrum``."""
        return "+".join(p.name for p in self.parts)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The parameters of each part, by its registry name (what :func:`create_extractor`
        takes for a combination)."""
        return {p.name: p.get_params() for p in self.parts}

    def fit(self, images: Sequence[Image.Image], labels: NDArray[np.int_]) -> ConcatExtractor:
        for p in self.parts:
            p.fit(images, labels)
        return self

    def transform_one(self, image: Image.Image) -> Features:
        return np.concatenate([p.transform_one(image) for p in self.parts]).astype(np.float32)

    def transform(self, images: Sequence[Image.Image]) -> Features:
        return np.hstack([p.transform(images) for p in self.parts]).astype(np.float32)

    def state_arrays(self) -> dict[str, NDArray[Any]]:
        return {f"{p.name}.{k}": v for p in self.parts for k, v in p.state_arrays().items()}

    def load_state_arrays(self, arrays: dict[str, NDArray[Any]]) -> None:
        for p in self.parts:
            prefix = f"{p.name}."
            p.load_state_arrays(
                {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            )

    def describe(self) -> str:
        return "; ".join(f"{p.name}: {p.describe()}" for p in self.parts)


def extractor_spec(extractor: FeatureExtractor) -> str:
    """The name to pass to :func:`create_extractor` to rebuild ``extractor``."""
    return extractor.spec if isinstance(extractor, ConcatExtractor) else extractor.name


__all__ = [
    "EXTRACTORS",
    "ConcatExtractor",
    "FeatureExtractor",
    "Features",
    "create_extractor",
    "extractor_spec",
    "list_extractors",
    "register_extractor",
]
