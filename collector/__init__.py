"""posfleet collector."""
