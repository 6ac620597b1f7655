"""Pure derived values: business-day lags, roles, 10b5-1 plans, weighted-average prices, code semantics."""

# Free text a filer controls (footnotes, remarks) is analysed up to this many characters, so no input of the
# allowed size makes derivation slow: every real footnote and remark seen is under 2,000 characters, and what
# derivation looks for (a 10b5-1 mention, an adoption date, a price range) is stated early. The as-filed text
# is kept whole; only the analysis stops here.
FREE_TEXT_CAP = 8192
