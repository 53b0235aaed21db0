"""Reports over the event lake (docs/reports.md): the weekly digest, the deadlines calendar, one event's
history.

Each report is three steps kept apart: SQL over the lake's views (``*_queries``: one SELECT per part,
computed by DuckDB), a pure builder that turns the query results into a :class:`~.model.Report`
(sections of rows, headline metrics, chart data), and renderers (terminal, Markdown, HTML, CSV, JSON)
that know nothing about the lake. :mod:`.run` ties them to an application.
"""

from opswarden.reports.model import Chart, Metric, Report, Section

__all__ = ["Chart", "Metric", "Report", "Section"]
