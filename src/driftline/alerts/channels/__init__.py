"""Alert channels."""
