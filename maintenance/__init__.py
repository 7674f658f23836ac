"""The maintenance engine, one sub-room per idea; data flows down this list, never up:

    worker      the `pilecare maintenance` process: runs every room's passes
    kpi         reads what the rooms below wrote (KPIs, availability)
    fieldwork   the engineer's visit        planning   preventive plans, inspections, routes
    dispatch    roster, matching, offers
    orders      work-order lifecycle, policy step, triage, verification, SLA, safety, desk moves
    alarms      rules, status changes, conditions, trends, alarm lifecycle, windows
    outbox      events, notices, transports, delivery
    policy      the maintenance policy file every room reads

The import contract in pyproject.toml (import-linter) holds these arrows.
"""
