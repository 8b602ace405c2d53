"""Helpers shared by test modules (not tests themselves): importable as ``support.NAME``."""
