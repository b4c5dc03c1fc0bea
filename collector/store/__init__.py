"""posfleet store."""
