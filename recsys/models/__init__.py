"""Recommender models: the interface (``base``), the registry, one family per module."""
