"""A report as one self-contained HTML page: inline CSS, charts embedded as base64 PNG images (with
their numbers in a table next to them), no script, nothing fetched."""

from __future__ import annotations

import base64
from html import escape

from opswarden.reports import charts as charting
from opswarden.reports.model import Report, Section, cell

_CSS = """
body{font:14px/1.45 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1f2328;margin:2rem auto;
max-width:1100px;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
h3{font-size:1rem;margin:1.2rem 0 .4rem}
.meta{color:#59636e;margin-top:0}.note{color:#59636e;font-style:italic;margin:.2rem 0 .6rem}
.metrics{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:.6rem;margin:1rem 0}
.metric{border:1px solid #d0d7de;border-radius:6px;padding:.5rem .7rem}
.metric b{display:block;font-size:1.3rem}.metric span{color:#59636e;font-size:.85rem}
table{border-collapse:collapse;width:100%;margin:.3rem 0 1rem;font-size:13px}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.critical td{background:#ffebe9}tr.high td{background:#fff5e6}
.chart img{max-width:100%;height:auto}.empty{color:#59636e}
"""


def to_html(report: Report) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(report.title)}</h1>",
        f'<p class="meta">generated {escape(cell(report.generated_at))} UTC by opswarden</p>',
    ]
    if report.metrics:
        parts.append('<div class="metrics">')
        parts += [
            f'<div class="metric"><b>{escape(cell(m.value) or "-")}</b><span>{escape(m.label)}</span></div>'
            for m in report.metrics
        ]
        parts.append("</div>")
    parts += _charts(report)
    for section in report.sections:
        parts += html_section(section)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _charts(report: Report) -> list[str]:
    if not report.charts:
        return []
    if not charting.available():
        return ["<p class=\"note\">charts need matplotlib: pip install 'opswarden[reports]'</p>"]
    out = []
    for chart in report.charts:
        data = base64.b64encode(charting.png(chart)).decode()
        out.append(
            f'<div class="chart" id="chart-{escape(chart.name)}">'
            f'<img src="data:image/png;base64,{data}" alt="{escape(chart.title)}"></div>'
        )
    return out


def html_section(section: Section) -> list[str]:
    out = [f'<h2 id="{escape(section.name)}">{escape(section.title)}</h2>']
    if section.note:
        out.append(f'<p class="note">{escape(section.note)}</p>')
    if not section.rows:
        return [*out, '<p class="empty">nothing in this period</p>']
    columns = section.shown_columns()
    severity = columns.index("severity") if "severity" in columns else None
    for value, rows in section.groups():
        if section.group_by is not None:
            out.append(f"<h3>{escape(section.group_by)} {escape(cell(value))} ({len(rows)})</h3>")
        out.append(
            "<table><thead><tr>" + "".join(f"<th>{escape(c)}</th>" for c in columns) + "</tr></thead><tbody>"
        )
        for row in rows:
            css = f' class="{escape(str(row[severity]))}"' if severity is not None else ""
            cells = "".join(
                f'<td class="n">{escape(cell(v))}</td>'
                if isinstance(v, int | float) and not isinstance(v, bool)
                else f"<td>{escape(cell(v))}</td>"
                for v in row
            )
            out.append(f"<tr{css}>{cells}</tr>")
        out.append("</tbody></table>")
    if section.truncated:
        out.append(f'<p class="note">only the first {len(section.rows)} rows (row limit)</p>')
    return out
