"""Torch network modules of the deep models (no training logic here)."""
