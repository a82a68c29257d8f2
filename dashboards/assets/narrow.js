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
    const below = legend.orientation === 'h' && legend.yanchor === 'top';
    if (narrow === below) return;
    if (narrow && !wide.has(gd)) {
      wide.set(gd, {legend: JSON.parse(JSON.stringify(legend)),
                    margin: JSON.parse(JSON.stringify(layout.margin || {}))});
    }
    const back = wide.get(gd);
    // Below the x axis's ticks and title: about 95 px, as a fraction of the plot's height.
    const size = gd._fullLayout && gd._fullLayout._size;
    const below_axis = -Math.min(1.2, 95 / Math.max(size ? size.h : 260, 80));
    const update = narrow
      ? {'legend.orientation': 'h', 'legend.x': 0, 'legend.xanchor': 'left',
         'legend.y': below_axis, 'legend.yanchor': 'top', 'margin.r': 8, 'margin.l': 48}
      : (back ? {legend: back.legend, margin: back.margin} : null);
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
