"""Settings, the exception family, and the helpers every layer shares (time, numbers,
secret scrubbing). Nothing here imports another driftline package."""
