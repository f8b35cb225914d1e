"""Participant work that earns hours when scored or reviewed."""
