"""Service KPIs and availability: read-only measures over the records the other rooms write (to become the reports room)."""
