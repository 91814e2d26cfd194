"""printd: print-station controller daemon for ID-card issuance."""

__version__ = "0.1.0"
