// Figures below the fold are drawn when they come near the view: the app renders each as an
// empty slot of the figure's height (`.lazy-slot`, its id the JSON of a Dash pattern id), and
// this asks the server for the figure (through the store beside the slot) once the slot is
// within a screen of the view (dashboards/app.py, draw_lazy). plotly.js spends ~0.15 s of the main thread per figure; a
// page of fifteen drew them all before a reader could scroll, and again on every filter change.
(function () {
  const asked = new WeakSet();
  const near = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      near.unobserve(entry.target);
      const setProps = window.dash_clientside && window.dash_clientside.set_props;
      // The slot's sibling store, not the slot: a click in the figure counts on the slot.
      const id = Object.assign(JSON.parse(entry.target.id), {type: 'lazy-near'});
      if (setProps) setProps(id, {data: 1});
    }
  }, {rootMargin: '100% 0px'});
  let queued = false;
  function watch() {
    queued = false;
    document.querySelectorAll('.lazy-slot').forEach((slot) => {
      if (!asked.has(slot)) { asked.add(slot); near.observe(slot); }
    });
  }
  new MutationObserver(() => {
    if (!queued) { queued = true; requestAnimationFrame(watch); }
  }).observe(document.documentElement, {childList: true, subtree: true});
})();
