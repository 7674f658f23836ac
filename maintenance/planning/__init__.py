"""Preventive maintenance and inspections: plans, the planner, inspection rounds and an engineer's day route."""
