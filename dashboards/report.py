"""The self-contained HTML report: one file, plotly.js embedded, opens without a network.

It shows the same verdict cards, figures and summary as the dashboard (both render
`dashboards.page.build_page`). Every text that comes from a study (its name, configurations,
sentences) goes through `html.escape`; figure JSON is embedded by Plotly, which escapes `<`.
"""

from __future__ import annotations

import html
import shutil
from datetime import UTC, datetime
from pathlib import Path

import plotly.io as pio
from plotly.offline import get_plotlyjs

from dashboards.page import Page, VerdictCard
from hpsearch import __version__
from hpsearch.outputs import write_atomically

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif;
       margin: 0 auto; max-width: 1200px; padding: 16px 24px; color: #1a1a1a; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; word-break: break-all; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 1.6em; }
.meta { color: #555; font-size: 0.9em; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 12px; }
.card { border: 1px solid #ccc; border-left: 8px solid var(--verdict); border-radius: 6px;
        padding: 10px 14px; background: #fafafa; }
.result { font-weight: 700; color: var(--verdict); letter-spacing: 0.04em; }
.claim { font-weight: 600; }
.failure { background: #fff1e6; border-radius: 4px; padding: 4px 8px; }
table { border-collapse: collapse; font-size: 0.9em; margin: 6px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
dl.kv { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; margin: 4px 0; }
dl.kv dt { color: #555; } dl.kv dd { margin: 0; }
.figure { margin: 8px 0 20px 0; }
ul.notes li { color: #7a4b00; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _kv(pairs: list[tuple[str, str]]) -> str:
    return (
        "<dl class='kv'>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in pairs) + "</dl>"
    )


def _card(card: VerdictCard) -> str:
    parts = [
        f"<div class='card' id='{_e(card.anchor)}' style='--verdict: {_e(card.color)}'>",
        f"<div class='result'>{_e(card.result)}</div>",
        f"<div class='claim'>{_e(card.claim)}</div>",
        f"<p>{_e(card.sentence)}</p>",
    ]
    if card.failure:
        parts.append(f"<p class='failure'>{_e(card.failure)}</p>")
    if card.numbers:
        parts.append(_kv(card.numbers))
    if card.reasons:
        parts.append("<ul>" + "".join(f"<li>{_e(r)}</li>" for r in card.reasons) + "</ul>")
    if card.blocking:
        parts.append("<p>Blocking: " + _e(", ".join(card.blocking)) + "</p>")
    if card.settings:
        parts.append("<details><summary>settings</summary>" + _kv(card.settings) + "</details>")
    if card.links:
        parts.append(
            "<p class='meta'>Figures: "
            + ", ".join(f"<a href='#{_e(anchor)}'>{_e(label)}</a>" for anchor, label in card.links)
            + "</p>"
        )
    parts.append("</div>")
    return "".join(parts)


def render_report(page: Page) -> str:
    """The whole report as one HTML string (plotly.js embedded once, in the head)."""
    body = [
        f"<h1>hpsearch report: {_e(page.title)}</h1>",
        f"<p class='meta'>hpsearch {_e(__version__)}, written "
        f"{_e(datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC'))}</p>",
        "<h2 id='verdicts'>Verdicts</h2>",
    ]
    if page.cards:
        body.append("<div class='cards'>" + "".join(_card(c) for c in page.cards) + "</div>")
    else:
        body.append("<p>No claims could be decided for this study.</p>")
    if page.notes:
        body.append(
            "<ul class='notes'>" + "".join(f"<li>{_e(n)}</li>" for n in page.notes) + "</ul>"
        )
    body.append("<h2 id='settings'>Settings</h2>" + _kv(page.overview))
    body.append(
        "<h2 id='summary'>Summary</h2><table><thead><tr>"
        + "".join(f"<th>{_e(c)}</th>" for c in page.summary_columns)
        + "</tr></thead><tbody>"
        + "".join(
            "<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>"
            for row in page.summary_rows
        )
        + "</tbody></table>"
    )
    config = {"displaylogo": False, "responsive": True}
    for section in page.sections:
        body.append(
            f"<h2 id='{_e(section.anchor)}'>{_e(section.title)}</h2><p>{_e(section.text)}</p>"
        )
        for anchor, fig in section.figures:
            div = pio.to_html(
                fig,
                include_plotlyjs=False,
                full_html=False,
                div_id=anchor,
                config=config,
                default_width="100%",
            )
            body.append(f"<div class='figure'>{div}</div>")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>hpsearch: {_e(page.title)}</title><style>{CSS}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script>"
        "</head><body>" + "\n".join(body) + "</body></html>"
    )


def write_report(page: Page, out: str | Path, images: bool = False) -> list[Path]:
    """Write the HTML report to `out`; with `images`, also PNG/PDF next to it if possible.

    Images need kaleido and a Chromium; without them only the HTML is written and the returned
    list says so (it holds only what was written).
    """
    text = render_report(page)
    # Atomically (a reader never sees half a report), mode per umask; a bad path is exit 2.
    out = write_atomically(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    written = [out]
    if images and image_export_available():
        folder = out.with_suffix("")
        folder.mkdir(exist_ok=True)
        for section in page.sections:
            for anchor, fig in section.figures:
                for suffix in ("png", "pdf"):
                    path = folder / f"{anchor}.{suffix}"
                    fig.write_image(path)
                    written.append(path)
    return written


def image_export_available() -> bool:
    """True when kaleido and a Chromium are installed (PNG/PDF are optional extras)."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return False
    return any(shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome"))
