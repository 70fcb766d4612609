"""Heads: scikit-learn classifiers on top of the features, stored as plain arrays.

============ ==============================================================================
name         what it is
============ ==============================================================================
``logistic`` standardisation + logistic regression (default). Discriminative: it learns the
             grid patterns of the generators it was trained on.
``mlp``      standardisation + a one-hidden-layer perceptron (ReLU, L2 penalty ``alpha``,
             scikit-learn's ``MLPClassifier`` with Adam and a fixed seed); its decision is
             the output unit's logit, so it exports to ONNX as two matrix products.
``novelty``  a Gaussian model of *real* images (Ledoit-Wolf covariance); the score is the log
             Mahalanobis distance from it, made a probability by a sigmoid fitted on both
             classes. Meant to flag anything unlike the real photos it has seen; on the
             shipped data it does not work, because real photos differ among themselves by
             their processing history more than generated images differ from them (see the
             model card), so it is kept for experiments only.
============ ==============================================================================

Both follow scikit-learn's conventions (``__init__`` stores parameters, fitted attributes
end in ``_``, ``classes_``, ``decision_function`` > 0 means ``classes_[1]``) and pass its
estimator checks. ``to_arrays``/``from_arrays`` replace pickling: a head is its parameters
(JSON) plus a few named arrays (safetensors).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from synthmark.errors import UsageError
from synthmark.names import NameRegistry

Arrays = dict[str, NDArray[Any]]


def _binary_targets(est: BaseEstimator, y: ArrayLike) -> tuple[NDArray[Any], NDArray[np.int_]]:
    check_classification_targets(y)
    classes = unique_labels(y)
    if len(classes) > 2:
        raise ValueError(
            f"Only binary classification is supported (real vs generated); {type(est).__name__} "
            f"got {len(classes)} classes: {list(classes)[:5]}"
        )
    if len(classes) < 2:
        raise ValueError(
            f"{type(est).__name__} needs samples of two classes (real and generated); got one "
            f"class: {list(classes)}"
        )
    return classes, (np.asarray(y) == classes[1]).astype(np.int_)


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


class _ArrayHead(ClassifierMixin, BaseEstimator):
    """Shared prediction code for binary heads with a scalar decision function."""

    #: Names of the fitted arrays written by :meth:`to_arrays`.
    array_names: ClassVar[tuple[str, ...]] = ()

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        """Score of ``classes_[1]`` (generated); > 0 means ``classes_[1]``."""
        check_is_fitted(self)
        Xv = validate_data(self, X, reset=False)
        return self._decision(np.asarray(Xv, dtype=np.float64))

    def _decision(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        raise NotImplementedError

    def _fit_data(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None
    ) -> tuple[NDArray[np.float64], NDArray[np.int_], NDArray[np.float64]]:
        """The validated features, the 0/1 targets (setting ``classes_``) and the weights."""
        Xv, yv = validate_data(self, X, y, dtype=np.float64)
        self.classes_, target = _binary_targets(self, yv)
        return Xv, target, _check_sample_weight(sample_weight, Xv)

    def _standardised(self, X: NDArray[np.float64], w: NDArray[np.float64]) -> NDArray[np.float64]:
        """``X`` standardised by its weighted mean and scale (setting ``mean_`` and
        ``scale_``; scale 1 where a column is constant)."""
        if w.sum() <= 0:
            raise ValueError("sample weights sum to zero")
        self.mean_ = np.average(X, axis=0, weights=w)
        var = np.average((X - self.mean_) ** 2, axis=0, weights=w)
        self.scale_ = np.where(var > 1e-24, np.sqrt(var), 1.0)
        return (X - self.mean_) / self.scale_

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Columns follow ``classes_``."""
        p = _sigmoid(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        check_is_fitted(self)
        classes: NDArray[Any] = self.classes_
        out: NDArray[Any] = classes[(self.decision_function(X) > 0).astype(np.int_)]
        return out

    def to_arrays(self) -> Arrays:
        """Fitted arrays to save (with ``classes_``)."""
        check_is_fitted(self)
        return {name: np.asarray(getattr(self, name)) for name in (*self.array_names, "classes_")}

    @classmethod
    def from_arrays(cls, params: dict[str, Any], arrays: Arrays) -> _ArrayHead:
        """Rebuild a fitted head from :meth:`get_params` and :meth:`to_arrays`."""
        head = cls(**params)
        missing = [n for n in (*cls.array_names, "classes_") if n not in arrays]
        if missing:
            raise UsageError(f"{cls.__name__}: saved model lacks arrays {missing}")
        for name in (*cls.array_names, "classes_"):
            value = np.array(arrays[name])
            setattr(head, name, value)
        head.n_features_in_ = int(np.asarray(arrays[cls.array_names[0]]).shape[-1])
        return head


class LogisticHead(_ArrayHead):
    """Standardisation followed by L2-regularised logistic regression (lbfgs).

    ``nuisance`` = k > 0 first removes the k directions along which the *real* training
    sources (cameras, photo collections: ``sources`` given to :meth:`fit`) differ most from
    one another: the leading right singular vectors of their centred mean standardised
    features, each source one row whatever its size. What tells one real collection from
    another (subject, camera, processing) is then not available to tell real from
    generated. ``within`` = m > 0 then removes the m directions along which real images
    vary most *inside* their sources (the pooled within-source scatter, each real source
    weighing the same, after the first projection): subject and scene, which differ
    from photo to photo of one collection as much as between collections. The projection
    is folded into ``coef_`` (a linear map composed with a linear map), so prediction,
    saving and ONNX export are those of a plain logistic head.
    """

    array_names = ("mean_", "scale_", "coef_", "intercept_")
    uses_sources: ClassVar[bool] = True

    def __init__(
        self, C: float = 0.1, max_iter: int = 5000, nuisance: int = 0, within: int = 0
    ) -> None:
        self.C = C
        self.max_iter = max_iter
        self.nuisance = nuisance
        self.within = within

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        sources: ArrayLike | None = None,
    ) -> LogisticHead:
        from sklearn.linear_model import LogisticRegression

        if self.nuisance < 0 or self.within < 0:
            raise ValueError(
                f"nuisance and within must be >= 0, got {self.nuisance} and {self.within}"
            )
        Xv, target, w = self._fit_data(X, y, sample_weight)
        Z = self._standardised(Xv, w)
        basis = np.zeros((Z.shape[1], 0))
        if self.nuisance or self.within:
            if sources is None or len(np.asarray(sources)) != len(Z):
                raise ValueError(
                    "nuisance or within > 0 needs the source of every sample (sources=)"
                )
            masks = _real_sources(target == 0, np.asarray(sources), w)
            basis = _nuisance_basis(Z, masks, w, self.nuisance)
            Z = Z - (Z @ basis) @ basis.T
            if self.within:
                inside = _within_basis(Z, masks, w, self.within)
                basis = np.linalg.qr(np.hstack([basis, inside]))[0]
                Z = Z - (Z @ inside) @ inside.T
        self.nuisance_dims_ = basis.shape[1]
        model = LogisticRegression(C=self.C, max_iter=self.max_iter)
        model.fit(Z, target, sample_weight=w)
        self.n_iter_ = np.asarray(model.n_iter_)
        coef = model.coef_.ravel().astype(np.float64)
        self.coef_ = coef - basis @ (basis.T @ coef)
        self.intercept_ = np.asarray(model.intercept_, dtype=np.float64).reshape(1)
        return self

    def _decision(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = ((X - self.mean_) / self.scale_) @ self.coef_ + self.intercept_[
            0
        ]
        return out


def _real_sources(
    real: NDArray[np.bool_], sources: NDArray[Any], w: NDArray[np.float64]
) -> list[NDArray[np.bool_]]:
    """A mask of the samples of each real source that carries weight."""
    masks = [real & (sources == s) for s in np.unique(sources[real])]
    return [m for m in masks if w[m].sum() > 0]


def _nuisance_basis(
    Z: NDArray[np.float64], masks: list[NDArray[np.bool_]], w: NDArray[np.float64], k: int
) -> NDArray[np.float64]:
    """Orthonormal columns (at most ``k``, fewer with fewer real sources) spanning the
    directions that separate the weighted means of the real sources (``masks``)."""
    if len(masks) < 2:
        return np.zeros((Z.shape[1], 0))
    means = np.array([np.average(Z[m], axis=0, weights=w[m]) for m in masks])
    _, sv, vt = np.linalg.svd(means - means.mean(axis=0), full_matrices=False)
    keep = min(k, int((sv > 1e-9 * max(sv[0], 1e-300)).sum()))
    out: NDArray[np.float64] = vt[:keep].T
    return out


def _within_basis(
    Z: NDArray[np.float64], masks: list[NDArray[np.bool_]], w: NDArray[np.float64], k: int
) -> NDArray[np.float64]:
    """Orthonormal columns: the ``k`` leading eigenvectors of the real sources' pooled
    within-source scatter (weighted inside each source, each source weighing the same)."""
    scatter = np.zeros((Z.shape[1], Z.shape[1]))
    for m in masks:
        ws = w[m] / w[m].sum()
        centred = Z[m] - ws @ Z[m]
        scatter += (centred * ws[:, None]).T @ centred / len(masks)
    values, vectors = np.linalg.eigh(scatter)
    keep = min(k, int((values > 1e-9 * max(values[-1], 1e-300)).sum()))
    out: NDArray[np.float64] = vectors[:, ::-1][:, :keep]
    return out


class MLPHead(_ArrayHead):
    """Standardisation followed by one hidden ReLU layer and a logistic output unit.

    Fitted by scikit-learn's ``MLPClassifier`` (Adam, ``max_iter`` epochs, seed
    ``random_state``, so a refit gives the same weights); ``hidden_weights_`` (d x h),
    ``hidden_bias_``, ``output_weights_`` (h) and ``output_bias_`` are its two layers.
    """

    array_names = (
        "mean_",
        "scale_",
        "hidden_weights_",
        "hidden_bias_",
        "output_weights_",
        "output_bias_",
    )

    def __init__(
        self, hidden: int = 64, alpha: float = 1.0, max_iter: int = 500, random_state: int = 0
    ) -> None:
        self.hidden = hidden
        self.alpha = alpha
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> MLPHead:
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        if self.hidden < 1:
            raise ValueError(f"hidden must be >= 1, got {self.hidden}")
        Xv, target, w = self._fit_data(X, y, sample_weight)
        Z = self._standardised(Xv, w)
        model = MLPClassifier(
            (self.hidden,), alpha=self.alpha, max_iter=self.max_iter, random_state=self.random_state
        )
        with warnings.catch_warnings():
            # A fixed epoch budget is the regulariser here, as early stopping would be.
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(Z, target, sample_weight=w)
        self.n_iter_ = int(model.n_iter_)
        self.hidden_weights_ = np.asarray(model.coefs_[0], dtype=np.float64)
        self.hidden_bias_ = np.asarray(model.intercepts_[0], dtype=np.float64)
        self.output_weights_ = np.asarray(model.coefs_[1], dtype=np.float64).ravel()
        self.output_bias_ = np.asarray(model.intercepts_[1], dtype=np.float64).reshape(1)
        return self

    def _decision(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        hidden = np.maximum(
            ((X - self.mean_) / self.scale_) @ self.hidden_weights_ + self.hidden_bias_, 0.0
        )
        out: NDArray[np.float64] = hidden @ self.output_weights_ + self.output_bias_[0]
        return out


class NoveltyHead(_ArrayHead):
    """Distance from a Gaussian model of the first class (real), calibrated by a sigmoid.

    ``fit`` estimates the mean and a shrunk covariance (Ledoit-Wolf, or ``shrinkage`` if
    given) of the standardised features of ``classes_[0]``; the raw score is
    ``log(1 + squared Mahalanobis distance / n_features)``, and ``slope_``/``offset_`` (a
    1-D logistic regression on that score, with both classes) make it a decision function.
    """

    array_names = ("mean_", "scale_", "precision_", "slope_", "offset_")

    def __init__(self, shrinkage: float | None = None) -> None:
        self.shrinkage = shrinkage

    def fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> NoveltyHead:
        from scipy.linalg import pinvh
        from sklearn.covariance import ledoit_wolf_shrinkage
        from sklearn.linear_model import LogisticRegression

        if self.shrinkage is not None and not 0.0 <= self.shrinkage <= 1.0:
            raise ValueError(f"shrinkage must lie in [0, 1] or be None, got {self.shrinkage}")
        Xv, target, w = self._fit_data(X, y, sample_weight)
        ref = target == 0
        if w[ref].sum() <= 0 or ref.sum() < 2 or w[~ref].sum() <= 0:
            raise ValueError(
                "the novelty head needs weighted samples of both classes, and at least 2 of "
                f"class {self.classes_[0]!r}"
            )
        wr = w[ref] / w[ref].sum()
        R = Xv[ref]
        self.mean_ = wr @ R
        var = wr @ (R - self.mean_) ** 2
        self.scale_ = np.where(var > 1e-24, np.sqrt(var), 1.0)
        Z = (R - self.mean_) / self.scale_
        Zw = Z * np.sqrt(wr * len(wr))[:, None]  # rows whose plain moments are the weighted ones
        emp = Zw.T @ Zw / len(wr)
        delta = (
            float(ledoit_wolf_shrinkage(Zw, assume_centered=True))
            if self.shrinkage is None
            else self.shrinkage
        )
        mu = float(np.trace(emp)) / emp.shape[0]
        cov = (1.0 - delta) * emp + delta * mu * np.eye(emp.shape[0])
        self.precision_ = pinvh(cov)
        self.shrinkage_ = delta
        raw = self._raw(Xv)
        if np.ptp(raw) == 0:
            self.slope_, self.offset_ = np.ones(1), -raw[:1].copy()
        else:
            lr = LogisticRegression(C=1e4, max_iter=1000)
            lr.fit(raw[:, None], target, sample_weight=w)
            self.slope_ = lr.coef_.ravel()[:1].astype(np.float64)
            self.offset_ = np.asarray(lr.intercept_, dtype=np.float64).reshape(1)
        return self

    def _raw(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        Z = (X - self.mean_) / self.scale_
        d2 = np.einsum("ij,jk,ik->i", Z, self.precision_, Z)
        out: NDArray[np.float64] = np.log1p(np.maximum(d2, 0.0) / Z.shape[1])
        return out

    def _decision(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = self.slope_[0] * self._raw(X) + self.offset_[0]
        return out


#: The heads by name.
HEADS: NameRegistry[type[_ArrayHead]] = NameRegistry("head", sort=True)
HEADS.register("logistic", LogisticHead)
HEADS.register("mlp", MLPHead)
HEADS.register("novelty", NoveltyHead)


def list_heads() -> list[str]:
    """Names of the registered heads."""
    return HEADS.names()


def create_head(name: str, params: dict[str, Any] | None = None) -> _ArrayHead:
    """A head by name. Raises ValueError (``UsageError``) listing the known names."""
    head: _ArrayHead = HEADS.create(name, **(params or {}))
    return head


def head_from_arrays(name: str, params: dict[str, Any], arrays: Arrays) -> _ArrayHead:
    """Rebuild a fitted head saved with ``to_arrays``."""
    return HEADS[name].from_arrays(params, arrays)


__all__ = [
    "HEADS",
    "LogisticHead",
    "MLPHead",
    "NoveltyHead",
    "create_head",
    "head_from_arrays",
    "list_heads",
]
