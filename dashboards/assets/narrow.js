// Legends below the plots on a narrow screen (a phone): beside the plot they take half its
// width and cover the data. Served by the Dash app from its assets folder and embedded in the
// HTML report. It watches for figures being drawn (Dash redraws a figure on every update) and
// for the window changing width, and moves a legend only when it is not where it belongs.
(function () {
  const NARROW = 640;
  const wide = new WeakMap();
  function fit(gd) {
    const layout = gd.layout, Plotly = window.Plotly;
    if (!layout || !Plotly || gd.__hpsearchFitting) return;
    const legend = layout.legend || {};
    const narrow = window.innerWidth <= NARROW;
    const below = legend.orientation === 'h' && legend.yref === 'container';
    if (narrow === below) return;
    if (narrow && !wide.has(gd)) {
      wide.set(gd, {legend: JSON.parse(JSON.stringify(legend)),
                    margin: JSON.parse(JSON.stringify(layout.margin || {})),
                    height: layout.height});
    }
    const back = wide.get(gd);
    // Under the plot, at the bottom of a figure grown by the legend's height (one row per
    // entry at most): it never covers the axis, its ticks or its title.
    const entries = gd.querySelectorAll('.legend .traces').length;
    const room = 22 * Math.max(entries, 1) + 10;
    const height = (back && back.height) || layout.height || 420;
    const margin = (back && back.margin) || layout.margin || {};
    const update = narrow
      ? {'legend.orientation': 'h', 'legend.x': 0, 'legend.xanchor': 'left',
         'legend.yref': 'container', 'legend.y': 0, 'legend.yanchor': 'bottom',
         'margin.r': 8, 'margin.l': 48, 'margin.b': (margin.b || 60) + room,
         'height': height + room}
      : (back ? {legend: back.legend, margin: back.margin, height: back.height} : null);
    if (!update) return;
    gd.__hpsearchFitting = true;
    Promise.resolve(Plotly.relayout(gd, update)).finally(() => { gd.__hpsearchFitting = false; });
  }
  let queued = false;
  function fitAll() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      document.querySelectorAll('.js-plotly-plot').forEach(fit);
    });
  }
  new MutationObserver(fitAll).observe(document.documentElement, {childList: true, subtree: true});
  window.addEventListener('resize', fitAll);
  document.addEventListener('DOMContentLoaded', fitAll);
})();
