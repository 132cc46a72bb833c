"""r1train."""
