// The keyboard's way to a figure's switches (the profile / slice toggle of a sensitivity
// figure): plotly.js draws its update menus in SVG, which no Tab key reaches. Under each figure
// with an update menu this adds one HTML button per menu entry doing what the entry does.
// Served by the Dash app from its assets folder and embedded in the HTML report.
(function () {
  function add(gd) {
    const menus = (gd.layout && gd.layout.updatemenus) || [];
    const box = gd.closest('.figure') || gd.parentElement;
    if (!menus.length || !box || box.querySelector('.figure-switch')) return;
    const bar = document.createElement('div');
    bar.className = 'figure-switch';
    bar.setAttribute('role', 'group');
    bar.setAttribute('aria-label', 'switch what this figure shows');
    menus.forEach((menu, m) => (menu.buttons || []).forEach((entry, i) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = entry.label;
      b.setAttribute('aria-pressed', String((menu.active || 0) === i));
      b.onclick = () => {
        const apply = window.Plotly[entry.method || 'restyle'];
        Promise.resolve(apply(gd, ...(entry.args || [])))
          .then(() => window.Plotly.relayout(gd, {[`updatemenus[${m}].active`]: i}));
        bar.querySelectorAll('button').forEach((o, k) =>
          o.setAttribute('aria-pressed', String(k === i)));
      };
      bar.appendChild(b);
    }));
    box.appendChild(bar);
  }
  let queued = false;
  function addAll() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      document.querySelectorAll('.js-plotly-plot').forEach(add);
    });
  }
  new MutationObserver(addAll).observe(document.documentElement, {childList: true, subtree: true});
  document.addEventListener('DOMContentLoaded', addAll);
})();
