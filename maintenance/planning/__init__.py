"""Preventive maintenance and inspections: plans, the planner, inspection rounds and an engineer's day route.

No other room uses planning; the worker runs `planner.plan` and `inspections.plan_rounds`,
and the API its modules: plans, planner (schedule, forecast), inspections, day_routes.
"""
