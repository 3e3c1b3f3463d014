"""The CDNOW sample shipped inside the lifetimes package (Fader & Hardie's 1/10th sample)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from funnelkit._optional import import_optional
from funnelkit.exceptions import FunnelkitError

__all__ = ["load_cdnow"]


def load_cdnow(kind: Literal["summary", "transactions"] = "summary") -> Any:
    """Load the CDNOW sample data bundled with lifetimes, as a pandas DataFrame.

    Parameters
    ----------
    kind
        ``"summary"``: 2,357 customers with ``customer_id, frequency, recency, T`` (weeks, the
        39-week calibration period of Fader, Hardie & Lee 2005) and ``monetary_value`` (mean
        repeat-transaction spend, 0 for customers without repeat purchases);
        ``"transactions"``: the raw CDNOW master log (``customer_id, date, value``).

    Examples
    --------
    >>> summary = load_cdnow()  # doctest: +SKIP
    >>> summary.shape  # doctest: +SKIP
    (2357, 5)
    """
    if kind not in ("summary", "transactions"):
        raise FunnelkitError(
            f"kind must be 'summary' (one row per customer: frequency, recency, T, "
            f"monetary_value) or 'transactions' (one row per purchase); got {kind!r}."
        )
    lifetimes = import_optional("lifetimes", purpose="load_cdnow")
    pd = import_optional("pandas", purpose="load_cdnow")
    folder = Path(str(lifetimes.__file__)).parent / "datasets"
    if kind == "summary":
        frame = pd.read_csv(folder / "cdnow_customers_summary_with_transactions.csv")
        return frame.rename(
            columns={
                "ID": "customer_id",
                "x": "frequency",
                "t_x": "recency",
                "zbar": "monetary_value",
            }
        )
    frame = pd.read_csv(
        folder / "CDNOW_master.txt",
        sep=r"\s+",
        header=0,
        names=["customer_id", "date", "quantity", "value"],
        dtype={"date": str},
    )
    frame["date"] = pd.to_datetime(frame["date"], format="%Y%m%d")
    return frame[["customer_id", "date", "value"]]
