// Figures below the fold are drawn when they come near the view: the app renders each as an
// empty slot of the figure's height (`.lazy-slot`, its id the JSON of a Dash pattern id), and
// this asks the server for the figure (through the store beside the slot) while the slot is
// within a screen of the view (dashboards/app.py, draw_lazy). plotly.js spends ~0.15 s of the
// main thread per figure; a page of fifteen drew them all before a reader could scroll, and
// again on every filter change.
(function () {
  const watched = new WeakSet();
  const near = new Set();  // slots within a screen of the view, not filled yet
  const asked = new WeakMap();  // slot -> when it was last asked for
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (entry.isIntersecting) near.add(entry.target);
      else near.delete(entry.target);
    }
    ask();
  }, {rootMargin: '100% 0px'});
  // Ask for every near, empty slot; again after a while if it is still empty (a slot can be
  // seen before Dash knows the store beside it, and then the first ask is lost).
  function ask() {
    const setProps = window.dash_clientside && window.dash_clientside.set_props;
    const now = performance.now();
    for (const slot of near) {
      if (!slot.isConnected || slot.firstChild) {
        near.delete(slot);
        observer.unobserve(slot);
        continue;
      }
      if (!setProps || now - (asked.get(slot) || -Infinity) < 1500) continue;
      asked.set(slot, now);
      setProps(Object.assign(JSON.parse(slot.id), {type: 'lazy-near'}), {data: now});
    }
  }
  setInterval(() => { if (near.size) ask(); }, 500);
  let queued = false;
  function watch() {
    queued = false;
    document.querySelectorAll('.lazy-slot').forEach((slot) => {
      if (!watched.has(slot)) { watched.add(slot); observer.observe(slot); }
    });
  }
  new MutationObserver(() => {
    if (!queued) { queued = true; requestAnimationFrame(watch); }
  }).observe(document.documentElement, {childList: true, subtree: true});
})();
