"""Drift engines."""
