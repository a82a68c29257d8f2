"""The self-contained HTML report: one file, plotly.js embedded, opens without a network.

It shows the same verdict cards, figures and summary as the dashboard (both render
`dashboards.page.build_page`). Every text that comes from a study (its name, configurations,
sentences) goes through `html.escape`; figure JSON is embedded by Plotly, which escapes `<`.
"""

from __future__ import annotations

import html
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import plotly.io as pio
from plotly.offline import get_plotlyjs

from dashboards.answer import AnswerLine, answer_count
from dashboards.page import BOARD_HEAD, Page, VerdictCard, figure_text, numeric_columns
from dashboards.theme import VERDICT_COLORS, figure_config
from hpsearch import __version__
from hpsearch.outputs import write_atomically
from hpsearch.studydata import StudyData

# The page's style: one file, served by the Dash app from its assets folder and embedded here.
CSS = (Path(__file__).parent / "assets" / "hpsearch.css").read_text(encoding="utf-8")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _kv(pairs: list[tuple[str, str]]) -> str:
    return (
        "<dl class='kv'>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in pairs) + "</dl>"
    )


def _card(card: VerdictCard) -> str:
    """One board row: result, claim, headline number, one line of why; the rest unfolds."""
    parts = [
        f"<details class='claim-row' id='{_e(card.anchor)}' style='--verdict: {_e(card.color)}'>",
        "<summary>",
        f"<span class='badge result'>{_e(card.result)}</span>",
        f"<span class='claim-text'>{_e(card.claim)}</span>",
        f"<span class='headline' title='{_e(card.headline_label)}'>{_e(card.headline)}"
        + (f" <small>{_e(card.headline_label)}</small>" if card.headline_label else "")
        + "</span>",
        f"<span class='reason'>{_e(card.reason)}</span>",
        "</summary><div class='claim-details'>",
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
    if card.guarantee:
        parts.append(f"<p class='meta'>{_e(card.guarantee)}</p>")
    if card.settings:
        parts.append("<details><summary>settings</summary>" + _kv(card.settings) + "</details>")
    if card.links:
        parts.append(
            "<p class='meta'>Figures: "
            + ", ".join(f"<a href='#{_e(anchor)}'>{_e(label)}</a>" for anchor, label in card.links)
            + "</p>"
        )
    parts.append("</div></details>")
    return "".join(parts)


def _answer(lines: list[AnswerLine]) -> str:
    """The answer in plain words above the board: one line per claim, the claim in full."""
    items = "".join(
        f"<li class='answer-line' style='--verdict: {_e(VERDICT_COLORS.get(line.result, '#444'))}'>"
        f"<a href='#{_e(line.anchor)}'><b>{_e(line.answer)}</b></a> — {_e(line.claim)} "
        f"{_e(line.verb)}"
        + (
            f": <span class='decided'>{_e(line.label)} {_e(line.number)}</span>"
            if line.number
            else ""
        )
        + (f" <span class='meta'>({_e(line.look)})</span>" if line.look else "")
        + ".</li>"
        for line in lines
    )
    return (
        "<section id='answer' class='answer' aria-label='the answer in plain words, one line per "
        f"claim'><h2 class='compact'>The answer</h2><p class='meta'>{_e(answer_count(lines))}</p>"
        f"<ul>{items}</ul></section>"
    )


def _table(columns: list[str], rows: list[list[str]]) -> str:
    return (
        "<table><thead><tr>"
        + "".join(f"<th>{_e(c)}</th>" for c in columns)
        + "</tr></thead><tbody>"
        + "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in rows)
        + "</tbody></table>"
    )


# The report's drill-down and trial table: the same as the dashboard's, in plain JavaScript over
# the trials embedded as JSON (every text goes in through textContent, never as HTML).
# Legends below the plots on a phone: the file the Dash app serves from its assets folder.
NARROW_JS = (Path(__file__).parent / "assets" / "narrow.js").read_text(encoding="utf-8")
# A figure's switches (profile / slice) as HTML buttons the keyboard reaches: the same file too.
KEYBOARD_JS = (Path(__file__).parent / "assets" / "keyboard.js").read_text(encoding="utf-8")

# The SVG button under each figure (the camera in its modebar downloads a PNG).
SVG_JS = """
document.addEventListener('click', e => {
  const b = e.target.closest && e.target.closest('button[data-svg]');
  if (b) Plotly.downloadImage(document.getElementById(b.dataset.svg),
                              {format: 'svg', filename: b.dataset.svg});
});
"""

TRIALS_JS = """
(function () {
  const data = JSON.parse(document.getElementById('trial-data').textContent);
  const cols = data.columns, rows = data.rows, numeric = new Set(data.numeric);
  const table = document.getElementById('trial-table');
  const count = document.getElementById('trial-count');
  const PAGE = 25;
  let sortCol = null, asc = true, page = 0;
  const filters = {};
  const text = v => (v === null || v === undefined) ? '' : String(v);
  // A numeric filter: `4` is = 4; `>4`, `>=4`, `<4`, `<=4`, `=4`, `!=4`; `a..b` a range.
  function numberTest(q) {
    let m = q.match(/^(-?[\\d.eE+-]+)\\s*\\.\\.\\s*(-?[\\d.eE+-]+)$/);
    if (m) { const a = +m[1], b = +m[2]; return v => v !== null && v >= a && v <= b; }
    m = q.match(/^(>=|<=|!=|>|<|=)?\\s*(-?[\\d.eE+-]+)$/);
    if (!m || isNaN(+m[2])) return null;
    const x = +m[2], op = m[1] || '=';
    return {'=': v => v === x, '!=': v => v !== x, '>': v => v > x, '<': v => v < x,
            '>=': v => v >= x, '<=': v => v <= x}[op];
  }
  function keep(r) {
    for (const c in filters) {
      const q = filters[c].trim();
      if (!q) continue;
      if (numeric.has(c)) {
        const t = numberTest(q);
        if (t === null || !t(r[c])) return false;
      } else if (!text(r[c]).toLowerCase().includes(q.toLowerCase())) return false;
    }
    return true;
  }
  function shownRows() {
    const shown = rows.filter(keep);
    if (sortCol !== null) shown.sort((a, b) => {
      const x = a[sortCol], y = b[sortCol];
      const k = (typeof x === 'number' && typeof y === 'number') ? x - y
        : text(x).localeCompare(text(y), undefined, {numeric: true});
      return asc ? k : -k;
    });
    return shown;
  }
  function fill(tableEl, columns, items) {
    const body = tableEl.createTBody();
    for (const r of items) {
      const tr = body.insertRow();
      for (const c of columns) {
        const td = tr.insertCell(); td.textContent = text(r[c]);
        if (numeric.has(c)) td.className = 'num';
      }
    }
  }
  // The header (sort buttons, one filter box per column) is built once, so typing keeps focus.
  const head = table.createTHead(), names = head.insertRow(), boxes = head.insertRow();
  for (const c of cols) {
    const th = document.createElement('th');
    const b = document.createElement('button'); b.className = 'sort'; b.textContent = c;
    b.title = 'sort by ' + c;
    b.onclick = () => { asc = sortCol === c ? !asc : true; sortCol = c; page = 0; draw(); };
    th.appendChild(b); names.appendChild(th);
    const fh = document.createElement('th'), input = document.createElement('input');
    input.setAttribute('aria-label', 'filter ' + c);
    input.placeholder = numeric.has(c) ? '= > < a..b' : 'contains';
    input.oninput = () => { filters[c] = input.value; page = 0; draw(); };
    fh.appendChild(input); boxes.appendChild(fh);
  }
  const pager = document.getElementById('trial-pages');
  function draw() {
    const shown = shownRows(), pages = Math.max(1, Math.ceil(shown.length / PAGE));
    page = Math.min(page, pages - 1);
    for (const th of names.children) {
      const c = th.firstChild.textContent;
      th.setAttribute('aria-sort', c !== sortCol ? 'none' : asc ? 'ascending' : 'descending');
    }
    count.textContent = shown.length + ' of ' + rows.length + ' trials; page ' + (page + 1)
      + ' of ' + pages;
    for (const body of [...table.tBodies]) body.remove();
    fill(table, cols, shown.slice(page * PAGE, (page + 1) * PAGE));
    pager.querySelector('[data-go=prev]').disabled = page === 0;
    pager.querySelector('[data-go=next]').disabled = page >= pages - 1;
  }
  pager.querySelector('[data-go=prev]').onclick = () => { page -= 1; draw(); };
  pager.querySelector('[data-go=next]').onclick = () => { page += 1; draw(); };
  // The rows the filters keep, as sorted, as CSV (RFC 4180 quoting).
  document.getElementById('trial-csv').onclick = () => {
    const q = v => {
      const t = text(v);
      return /[",\\n]/.test(t) ? '"' + t.replace(/"/g, '""') + '"' : t;
    };
    const lines = [cols.map(q).join(',')]
      .concat(shownRows().map(r => cols.map(c => q(r[c])).join(',')));
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([lines.join('\\n') + '\\n'], {type: 'text/csv'}));
    a.download = 'trials-filtered.csv'; document.body.appendChild(a); a.click(); a.remove();
  };
  draw();
  const drill = document.getElementById('drill'), drillBody = document.getElementById('drill-body');
  document.getElementById('drill-close').onclick = () => { drill.hidden = true; };
  function open(config, optimizer) {
    const mine = rows.filter(r => r.optimizer === optimizer && r.config === config);
    if (!mine.length) return;
    const skip = ['optimizer', 'config', 'study', 'wall_seconds'];
    const show = cols.filter(c => !skip.includes(c) && mine.some(r => text(r[c]) !== ''));
    const h = document.createElement('h3'); h.textContent = optimizer + ': ' + config;
    const p = document.createElement('p'); p.className = 'meta';
    p.textContent = mine.length + ' trials of this configuration';
    const t = document.createElement('table');
    const hr = t.createTHead().insertRow();
    for (const c of show) {
      const th = document.createElement('th'); th.textContent = c; hr.appendChild(th);
    }
    fill(t, show, mine);
    drillBody.replaceChildren(h, p, t);
    drill.hidden = false;
    document.getElementById('drill-close').focus();
  }
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    gd.on('plotly_click', e => {
      const c = e.points && e.points[0] && e.points[0].customdata;
      if (Array.isArray(c) && c.length >= 2) open(String(c[0]), String(c[1]));
    });
  }
})();
"""


def _trials(columns: list[str], rows: list[dict[str, object]]) -> str:
    """The trial table's shell, the drill-down panel and the trials as inert JSON."""
    numeric = numeric_columns(columns, rows)
    payload = json.dumps(
        {"columns": columns, "numeric": numeric, "rows": rows}, default=str, allow_nan=False
    )
    payload = payload.replace("<", "\\u003c")  # no `</script>` (or `<!--`) inside the element
    return (
        "<h2 id='trials'>Trials</h2><p class='meta'>Every trial, a column per hyperparameter. "
        "Click a column's name to sort; filter under it (numbers: 4 is = 4, or &gt;4, &lt;=4, "
        "0.01..1); click a point of a sensitivity curve or a heatmap cell for that "
        "configuration's seeds.</p><p><button id='trial-csv'>Download the filtered trials "
        "(CSV)</button> <span id='trial-count' class='meta' aria-live='polite'></span></p>"
        "<div class='table-scroll'><table id='trial-table'></table></div>"
        "<p id='trial-pages'><button data-go='prev'>‹ previous page</button> "
        "<button data-go='next'>next page ›</button></p>"
        "<div id='drill' class='drill' hidden><button id='drill-close'>close ×</button>"
        "<div id='drill-body'></div></div>"
        f"<script type='application/json' id='trial-data'>{payload}</script>"
        f"<script>{TRIALS_JS}</script>"
    )


def render_report(page: Page) -> str:
    """The whole report as one HTML string (plotly.js embedded once, in the head)."""
    body = [
        f"<h1>hpsearch report: {_e(page.title)}</h1>",
        f"<p class='meta'>hpsearch {_e(__version__)}, written "
        f"{_e(datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC'))}; click a claim for its "
        "numbers, reasons and settings</p>",
    ]
    if page.answers:
        body.append(_answer(page.answers))
    if page.cards:
        body.append(
            "<div class='board' id='verdicts'><div class='board-head'>"
            + "".join(f"<span>{_e(h)}</span>" for h in BOARD_HEAD)
            + "</div>"
            + "".join(_card(c) for c in page.cards)
            + "</div>"
        )
    else:
        body.append("<p id='verdicts'>No claims could be decided for this study.</p>")
    if page.hidden:
        body.append(
            "<p class='hidden-claims'>Not shown (an optimizer they name is not selected): "
            + _e("; ".join(page.hidden))
            + "</p>"
        )
    if page.notes:
        body.append(
            "<ul class='notes'>" + "".join(f"<li>{_e(n)}</li>" for n in page.notes) + "</ul>"
        )
    tail = [
        "<h2 id='summary'>Summary</h2>" + _table(page.summary_columns, page.summary_rows),
        "<h2 id='settings'>Settings</h2>" + _kv(page.overview),
    ]
    for section in page.sections:
        body.append(
            f"<h2 class='compact' id='{_e(section.anchor)}'>{_e(section.title)}</h2>"
            f"<p class='meta'>{_e(section.text)}</p>"
        )
        for index, (anchor, fig) in enumerate(section.figures):
            div = pio.to_html(
                fig,
                include_plotlyjs=False,
                full_html=False,
                div_id=anchor,
                config=figure_config(anchor),
                default_width="100%",
            )
            body.append(
                f"<div class='figure' role='figure' aria-label='{_e(figure_text(fig))}'>"
                f"{div}<button class='svg-download' data-svg='{_e(anchor)}' "
                f"title='download {_e(anchor)} as SVG'>SVG</button></div>"
            )
            if index == 0 and section.table is not None:  # the numbers under their figure
                body.append(_table(*section.table))
    body += tail
    if page.trials is not None:
        body.append(_trials(*page.trials))
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>hpsearch: {_e(page.title)}</title><style>{CSS}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script>"
        "</head><body>" + "\n".join(body) + f"<script>{SVG_JS}</script><script>{NARROW_JS}</script>"
        f"<script>{KEYBOARD_JS}</script></body></html>"
    )


def write_report(page: Page, out: str | Path, images: bool = False) -> list[Path]:
    """Write the HTML report to `out`; with `images`, also PNG/PDF next to it if possible.

    Images need kaleido and a Chromium; without them only the HTML is written and the returned
    list says so (it holds only what was written).
    """
    text = render_report(page)
    # Atomically (a reader never sees half a report), mode per umask; a bad path is exit 2.

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    out = write_atomically(out, write)
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


def write_study_report(storage: str, name: str, out: str | Path) -> list[Path]:
    """Load study `name` from `storage` (a storage URL), analyse it and write its report: the
    one call a script needs (e.g. to regenerate the documentation's figures)."""
    from hpsearch.storage import load_study_data

    return write_report(study_page(load_study_data(storage, name)), out)


def study_page(data: StudyData) -> Page:
    """A whole study's page for the report: analysed, with the optimizers' defaults (for the
    lr = 1 answer) and every trial (for the drill-down and the trial table)."""
    from dashboards.page import build_page
    from dashboards.study import analyze_study
    from hpsearch.analysis.defaults import optimizer_defaults

    return build_page(
        analyze_study(data),
        data.curves,
        defaults=optimizer_defaults(data),
        data=data,
    )
