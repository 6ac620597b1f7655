"""form4-streams: SEC ownership filings as clean, exact streaming data."""

__version__ = "0.1.0"
