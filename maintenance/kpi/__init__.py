"""Service KPIs and availability: read-only measures over the records the other rooms write (to become the reports room).

    service         the KPIs of a period (`compute`) or of many in one pass (`series`), availability
    pm_compliance   PM compliance: the one definition, for the KPIs and the planning page alike

Only the API reads these; no room depends on kpi.
"""
