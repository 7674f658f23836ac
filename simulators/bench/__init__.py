"""Benchmarks (`pilecare bench …`): they drive the platform from outside with simulated load and print figures; no product code imports them."""
