"""Static covariates of the CLV fitters: encoding, design matrix and coefficient table.

A covariate table has one row per customer of the summary. It is either a frame (pandas,
polars, pyarrow) with a ``customer_id`` column, joined on the summary's customer ids, or
(without that column, or as a mapping of arrays) aligned row by row with the summary.
Numeric columns enter as they are; text, categorical and boolean columns are one-hot encoded
against a reference level (the first sorted level unless a fitter's ``covariate_reference``
names another), and each indicator is named ``"column[level]"``.

The encoding learnt at fit time (:class:`CovariateEncoding`) is stored with the model, so a
model loaded from JSON builds the same design matrix for new customers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field
from scipy import stats

from funnelkit._frames import Backend, frame_from_columns
from funnelkit._results import Result, Spec
from funnelkit.clv._data import unique_combinations
from funnelkit.exceptions import DataError, format_examples

__all__ = [
    "PROCESSES",
    "CovariateColumn",
    "CovariateEncoding",
    "CovariateFit",
    "CovariateTest",
    "coefficient_frame",
    "frame_backend",
    "learn_encoding",
    "unique_patterns",
    "with_covariates",
]

#: the processes a covariate can enter, in table order
PROCESSES = ("purchase", "dropout", "spend")
ID_COLUMN = "customer_id"


def unique_patterns(design: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a design matrix (sorted) and each customer's row index in them.

    As ``np.unique(design, axis=0, return_inverse=True)``, but by combining the codes of the
    columns: ``axis=0`` sorts the rows as opaque records, which takes seconds on a million
    customers with a handful of columns.
    """
    design = np.asarray(design, dtype=float)
    if design.ndim != 2 or design.shape[1] == 0 or design.shape[0] == 0:
        patterns, codes = np.unique(design, axis=0, return_inverse=True)
        return patterns, codes.reshape(-1).astype(np.int64)
    columns, codes = unique_combinations(*design.T)
    return np.column_stack(columns), codes.astype(np.int64)


class CovariateColumn(Spec):
    """One input column: numeric (as it is) or categorical (one-hot against ``reference``)."""

    name: str
    kind: Literal["numeric", "categorical"]
    levels: list[str] = Field(default_factory=list)
    reference: str | None = None

    @property
    def names(self) -> list[str]:
        """The design-matrix columns this input column becomes."""
        if self.kind == "numeric":
            return [self.name]
        return [f"{self.name}[{lv}]" for lv in self.levels if lv != self.reference]


class CovariateEncoding(Spec):
    """How covariate tables become design matrices (learnt at fit, stored in JSON)."""

    columns: list[CovariateColumn]

    @property
    def names(self) -> list[str]:
        return [name for col in self.columns for name in col.names]

    def design(self, covariates: Any, ids: np.ndarray | None, n: int) -> np.ndarray:
        """The ``(n, p)`` design matrix of ``covariates`` for ``n`` customers with ``ids``."""
        raw = aligned_columns(covariates, ids, n)
        missing = [c.name for c in self.columns if c.name not in raw]
        if missing:
            raise DataError(
                f"The covariates lack column(s) {missing} that the model was fitted with "
                f"(it uses {[c.name for c in self.columns]}): pass the same columns as at fit."
            )
        parts = []
        for col in self.columns:
            values = raw[col.name]
            if col.kind == "numeric":
                parts.append(numeric_values(col.name, values, ids)[:, None])
                continue
            labels = labels_of(col.name, values, ids)
            # one comparison per distinct label, not per customer
            found, codes = np.unique(labels, return_inverse=True)
            codes = codes.reshape(-1)
            unknown = ~np.isin(found, col.levels)[codes]
            if unknown.any():
                raise DataError(
                    f"Covariate {col.name!r} has {int(unknown.sum())} value(s) the model was "
                    f"not fitted with ({format_examples(np.unique(labels[unknown]))}; known "
                    f"levels {col.levels}), e.g. for customer(s) "
                    f"{format_examples(_ids_at(ids, unknown))}: map them to a known level."
                )
            kept = [lv for lv in col.levels if lv != col.reference]
            one_hot = np.array([[str(f) == lv for lv in kept] for f in found], dtype=float)
            parts.append(one_hot.reshape(found.size, len(kept))[codes])
        return np.hstack(parts) if parts else np.empty((n, 0))


class CovariateTest(Result):
    """Likelihood-ratio test of the covariate model against the same model without them.

    ``statistic = 2 (LL_covariates - LL_plain)`` is chi-square with ``df`` (the number of
    coefficients) degrees of freedom when no covariate has an effect.
    """

    title: ClassVar[str] = "Likelihood-ratio test of the covariates"

    statistic: float
    df: int
    p_value: float
    log_likelihood: float
    plain_log_likelihood: float

    @classmethod
    def of(cls, ll: float, plain: float, df: int) -> CovariateTest:
        statistic = max(0.0, 2.0 * (ll - plain))
        return cls(
            statistic=statistic,
            df=df,
            p_value=float(stats.chi2.sf(statistic, df)),
            log_likelihood=ll,
            plain_log_likelihood=plain,
        )


@dataclass(frozen=True)
class CovariateFit:
    """What a covariate fit adds to the model (persisted in its JSON)."""

    encoding: CovariateEncoding
    #: process -> ((parameter, sign), ...) of the fitted parameter set (full or limit)
    links: dict[str, tuple[tuple[str, int], ...]]
    #: one coefficient vector per process, in the order of ``encoding.names``
    coefficients: dict[str, np.ndarray]
    rows: list[dict[str, Any]]
    test: CovariateTest
    backend: Backend
    #: covariance of (base parameters, coefficients) in the fit's order (the coefficients
    #: by process in ``links`` order, each in ``encoding.names`` order): natural scale for
    #: the base parameters, raw for the coefficients; ``None`` when the observed information
    #: is not positive definite, or for documents written without it
    covariance: list[list[float]] | None = None

    def state(self) -> dict[str, Any]:
        return {
            "encoding": self.encoding.model_dump(),
            "links": {k: [list(link) for link in v] for k, v in self.links.items()},
            "coefficients": {k: v.tolist() for k, v in self.coefficients.items()},
            "rows": self.rows,
            "test": self.test.model_dump(),
            "backend": self.backend,
            "covariance": self.covariance,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> CovariateFit:
        return cls(
            encoding=CovariateEncoding.model_validate(state["encoding"]),
            links={
                k: tuple((str(nm), int(sign)) for nm, sign in v) for k, v in state["links"].items()
            },
            coefficients={k: np.asarray(v, dtype=float) for k, v in state["coefficients"].items()},
            rows=[dict(r) for r in state["rows"]],
            test=CovariateTest.model_validate(state["test"]),
            backend=state["backend"],
            # documents written before the covariance was stored load without it
            covariance=state.get("covariance"),
        )


def learn_encoding(
    covariates: Any, ids: np.ndarray | None, n: int, reference: Mapping[str, Any] | None = None
) -> tuple[CovariateEncoding, np.ndarray]:
    """Learn the encoding of a covariate table and return it with its design matrix."""
    raw = aligned_columns(covariates, ids, n)
    if not raw:
        raise DataError(
            "The covariates have no columns: pass at least one covariate (besides customer_id)."
        )
    reference = dict(reference or {})
    unknown = sorted(set(reference) - set(raw))
    if unknown:
        raise DataError(
            f"covariate_reference names column(s) {unknown} that the covariates do not have "
            f"(they have {sorted(raw)})."
        )
    columns = []
    for name, values in raw.items():
        if _is_numeric(values):
            x = numeric_values(name, values, ids)
            if n and np.all(x == x[0]):
                _constant(name, repr(float(x[0])), n)
            columns.append(CovariateColumn(name=name, kind="numeric"))
            continue
        labels = labels_of(name, values, ids)
        levels = [str(v) for v in np.unique(labels)]
        if len(levels) < 2:
            _constant(name, repr(levels[0]) if levels else "nothing", n)
        ref = str(reference.get(name, levels[0]))
        if ref not in levels:
            raise DataError(
                f"covariate_reference[{name!r}] = {ref!r} is not a level of {name!r} "
                f"(levels {levels})."
            )
        columns.append(CovariateColumn(name=name, kind="categorical", levels=levels, reference=ref))
    encoding = CovariateEncoding(columns=columns)
    return encoding, encoding.design(raw, None, n)


def aligned_columns(covariates: Any, ids: np.ndarray | None, n: int) -> dict[str, np.ndarray]:
    """The covariate columns as numpy arrays in the order of the ``n`` summary customers.

    A frame with a ``customer_id`` column is joined on ``ids``; anything else (a mapping of
    arrays, a frame without ids) must have exactly ``n`` rows in the summary's order.
    """
    if isinstance(covariates, Mapping):
        # a profile may give scalars: one customer
        columns = {str(k): np.atleast_1d(np.asarray(v)) for k, v in covariates.items()}
    else:
        from funnelkit.ingest.columns import eager_frame

        frame = eager_frame(
            covariates,
            what="covariates",
            accepted="a pandas, polars or pyarrow frame or a mapping of arrays",
        )
        columns = {str(c): frame[c].to_numpy() for c in frame.columns}
    for name, values in columns.items():
        if values.ndim != 1:
            raise DataError(
                f"Covariate {name!r} must be one value per customer; got shape {values.shape}."
            )
    if ID_COLUMN in columns and ids is not None:
        return _joined(columns, ids)
    columns.pop(ID_COLUMN, None)
    sizes = {name: v.shape[0] for name, v in columns.items() if v.shape[0] != n}
    if sizes:
        raise DataError(
            f"The covariates have {sorted(set(sizes.values()))} rows but there are {n} "
            f"customers: give one row per customer in the order of the summary, or a "
            f"{ID_COLUMN!r} column to join on."
        )
    return columns


def _joined(columns: dict[str, np.ndarray], ids: np.ndarray) -> dict[str, np.ndarray]:
    keys = columns.pop(ID_COLUMN).tolist()
    where: dict[Any, int] = {}
    repeated = []
    for i, key in enumerate(keys):
        if key in where:
            repeated.append(key)
        where[key] = i
    if repeated:
        raise DataError(
            f"{len(repeated)} customer id(s) appear more than once in the covariates "
            f"({format_examples(repeated)}): give one row per customer."
        )
    wanted = ids.tolist()
    rows = np.array([where.get(key, -1) for key in wanted], dtype=np.int64)
    lost = rows < 0
    if lost.any():
        extra = sorted(set(keys) - set(wanted), key=str)
        hint = f"; the covariates have {len(extra)} id(s) that are not in the summary" + (
            f" ({format_examples(extra)})" if extra else ""
        )
        raise DataError(
            f"{int(lost.sum())} of the {len(wanted)} customers have no covariate row "
            f"({format_examples(ids[lost])}){hint}. Give every customer of the summary a row "
            f"(the {ID_COLUMN!r} values must match the summary's ids and their type)."
        )
    return {name: values[rows] for name, values in columns.items()}


def _is_numeric(values: np.ndarray) -> bool:
    return values.dtype.kind in "iuf"


def numeric_values(name: str, values: np.ndarray, ids: np.ndarray | None) -> np.ndarray:
    """A numeric covariate as floats; NaN, infinities and text are refused."""
    if not _is_numeric(values):
        raise DataError(
            f"Covariate {name!r} was numeric at fit time but is {values.dtype} here: pass numbers."
        )
    x = values.astype(float)
    bad = ~np.isfinite(x)
    if bad.any():
        raise DataError(
            f"Covariate {name!r} has {int(bad.sum())} missing or infinite value(s), e.g. for "
            f"customer(s) {format_examples(_ids_at(ids, bad))}: fill or drop them before fitting "
            "(a covariate must be known for every customer)."
        )
    return x


def labels_of(name: str, values: np.ndarray, ids: np.ndarray | None) -> np.ndarray:
    """A categorical covariate as text labels (a numpy string array); missing values are
    refused.

    Text and booleans in numpy's own types cannot be missing and convert without a Python
    loop; anything else (Python objects) is checked value by value.
    """
    if values.dtype.kind in "mM":
        raise DataError(
            f"Covariate {name!r} holds dates or durations: convert it to numbers (e.g. days "
            "since a reference date) or to categories first."
        )
    if values.dtype.kind == "U":
        return values
    if values.dtype.kind == "b":
        return np.where(values, "True", "False")
    items = values.tolist()
    bad = np.array(
        [v is None or (isinstance(v, float) and not math.isfinite(v)) for v in items], dtype=bool
    )
    if bad.any():
        raise DataError(
            f"Covariate {name!r} has {int(bad.sum())} missing value(s), e.g. for customer(s) "
            f"{format_examples(_ids_at(ids, bad))}: fill them (e.g. with a level 'unknown') "
            "before fitting."
        )
    return np.array([str(v) for v in items], dtype=str)


def _constant(name: str, value: str, n: int) -> None:
    raise DataError(
        f"Covariate {name!r} takes the same value ({value}) for all {n} customers, so its "
        "effect cannot be told apart from the base parameters: drop the column."
    )


def _ids_at(ids: np.ndarray | None, mask: np.ndarray) -> np.ndarray:
    return np.flatnonzero(mask) if ids is None else np.asarray(ids)[mask]


def frame_backend(covariates: Any) -> Backend:
    """The frame library of the caller's covariates (pandas for mappings)."""
    module = type(covariates).__module__.split(".")[0]
    if module == "polars":
        return "polars"
    if module == "pyarrow":
        return "pyarrow"
    return "pandas"


def coefficient_frame(
    rows: Sequence[Mapping[str, Any]], conf_level: float, backend: Backend = "pandas"
) -> Any:
    """The coefficient table ``process, covariate, estimate, std_error, lower, upper``."""
    columns: dict[str, np.ndarray] = {
        "process": np.array([r["process"] for r in rows], dtype=object),
        "covariate": np.array([r["covariate"] for r in rows], dtype=object),
    }
    for key in ("estimate", "std_error", "lower", "upper"):
        columns[key] = np.array([np.nan if r[key] is None else r[key] for r in rows], dtype=float)
    frame = frame_from_columns(columns, backend)
    if backend == "pandas":
        frame.attrs["conf_level"] = conf_level
    return frame


def with_covariates(model: Any) -> bool:
    """Whether ``model`` is a fitted model with covariates (its ``coefficients_`` table)."""
    return getattr(model, "coefficients_", None) is not None
