"""Odd data (issue 12, items 1-8): one module per kind of input, each through every path
it can take (``drift check`` on files, ingestion from CSV, Parquet and frames on SQLite
and PostgreSQL, window reads, baselines, the drift engines)."""
