"""Adaptation: incremental updates, decay, context filters, cold start and replay."""
