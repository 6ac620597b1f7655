"""Pure derived values: business-day lags, roles, 10b5-1 plans, weighted-average prices, code semantics."""
