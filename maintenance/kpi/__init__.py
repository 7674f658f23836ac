"""Service KPIs and availability: read-only measures over the records the other rooms write (to become the reports room).

    service         the KPIs of a period (`compute`) or of many in one pass (`series`), availability
    pm_compliance   PM compliance: the one definition, for the KPIs and the planning page alike
    uptime          each port's uptime the way NEVI counts it (23 CFR 680.116(b)), and its outages

Only the API reads these; no room depends on kpi.
"""
