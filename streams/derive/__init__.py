"""Pure derived values: business-day lags, roles, 10b5-1 plans, weighted-average prices, code semantics."""

from streams.bounds import FREE_TEXT_CAP

__all__ = ["FREE_TEXT_CAP"]
