"""Management reports (R-KPI, R-COST, issue 14): the monthly service report, the quarterly
fault analysis per pile model and staff scorecards. The top room below the worker: it only
reads the other rooms' records and calls their read functions (maintenance.kpi, the stock
ledger, the orders' SLA clock) and writes only its own table, `reports`.

    periods       months and quarters as [start, end)
    model         the reports' data, built first and then rendered
    monthly       the monthly service report's sections
    faults        faults ranked: the month's top faults, the quarterly analysis per model
    timeliness    repair timeliness over the orders' SLA resolve clock
    scorecards    per engineer and team
    costs_section the costs room's figures: budget against actual, the month's job costs,
                  the faults' costs (the one place wired to maintenance.costs)
    layout        sections as tables; pdf, xlsx render them
    store         produce (claimed in PostgreSQL), list and read stored reports
    schedule      `generate_due`: the worker's hourly job, exactly once, mailed as links
"""
from maintenance.reports.faults import analysis as fault_analysis
from maintenance.reports.periods import Period, ReportKind, month, parse, quarter
from maintenance.reports.schedule import generate_due
from maintenance.reports.scorecards import Scorecard, ScorecardBy, scorecards
from maintenance.reports.store import FileFormat, StoredReport, Trigger, produce

__all__ = ["FileFormat", "Period", "ReportKind", "Scorecard", "ScorecardBy", "StoredReport", "Trigger",
           "fault_analysis", "generate_due", "month", "parse", "produce", "quarter", "scorecards"]
