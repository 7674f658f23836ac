"""A report's tables as PDF (ReportLab platypus): a title page heading, one titled table per
section with its note, and a bar chart (reportlab.graphics) where a section has one. Cells are
written as layout.display writes them, so the text (`pdftotext`) carries the stored figures.
"""
from __future__ import annotations

import io
from datetime import datetime

from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from xml.sax.saxutils import escape

from maintenance.reports import layout

_STYLE = TableStyle([
    ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 9),
    ("FONT", (0, 1), (-1, -1), "Helvetica", 9),
    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef4")),
    ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#9aa5b1")),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
])


def _chart(data: list[tuple[str, float]], width: float) -> Drawing:
    """A horizontal bar chart of (label, value), largest first as given."""
    data = data[::-1]   # the chart draws its first category at the bottom
    height = 14 * len(data) + 20
    drawing = Drawing(width, height)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 120, 10, width - 160, height - 20
    chart.data = [[float(v) for _, v in data]]
    chart.categoryAxis.categoryNames = [label[:24] for label, _ in data]
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.bars[0].fillColor = colors.HexColor("#3b6e99")
    drawing.add(chart)
    return drawing


def render(title: str, subtitle: str, tables: list[layout.Table], *, generated_at: datetime) -> bytes:
    """The PDF of `tables` under `title`; A4 landscape."""
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=landscape(A4), leftMargin=15 * mm, rightMargin=15 * mm,
                            topMargin=15 * mm, bottomMargin=15 * mm, title=title, author="pilecare")
    styles = getSampleStyleSheet()
    story = [Paragraph(escape(title), styles["Title"]),
             Paragraph(escape(f"{subtitle} Generated {generated_at:%Y-%m-%d %H:%M} UTC."), styles["Normal"]),
             Spacer(1, 6 * mm)]
    for table in tables:
        story.append(Paragraph(escape(table.title), styles["Heading2"]))
        if table.note:
            story.append(Paragraph(escape(table.note), styles["Italic"]))
            story.append(Spacer(1, 2 * mm))
        rows = [table.headers] + [[layout.display(cell) for cell in row] for row in table.rows]
        if len(rows) > 1:
            # Figures right-aligned, words left: column by column, cell by cell.
            numbers = [("ALIGN", (c, r + 1), (c, r + 1), "RIGHT") for r, row in enumerate(table.rows)
                       for c, cell in enumerate(row) if cell.fmt is not layout.Fmt.TEXT]
            story.append(Table(rows, repeatRows=1, style=TableStyle(_STYLE.getCommands() + numbers), hAlign="LEFT"))
        if any(v for _, v in table.chart):
            story.append(Spacer(1, 3 * mm))
            story.append(_chart(table.chart, doc.width * 0.6))
        story.append(Spacer(1, 5 * mm))
    doc.build(story)
    return buffer.getvalue()
