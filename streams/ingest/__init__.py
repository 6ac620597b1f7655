"""Sources of raw filing events for form4.raw: local files (here), EDGAR's feed and indexes (later)."""
