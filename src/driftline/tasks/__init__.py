"""Model tasks."""
