"""The prediction store and what goes in and out of it: ingestion, pseudonymisation,
consent and erasure, and every window read (monitoring, performance, training, benchmark)."""
