"""Fleets that behave like real charging piles, for development, tests and load."""
