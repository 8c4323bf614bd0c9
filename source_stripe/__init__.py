"""source_stripe package."""
