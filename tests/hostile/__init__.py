"""Hostile input corpus and its CLI/UI tests."""
