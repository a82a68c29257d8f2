"""One colour per optimizer, the same in every figure, the dashboard and the report.

The palette is Okabe & Ito's (2008), chosen to stay distinguishable under the common forms of
colour blindness. Known optimizers get fixed colours so that a study with only Adam and SGD shows
them in the same colours as a study with all of them; unknown names fall back to a stable hash.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

# Okabe-Ito, without black (kept for text) and yellow (too light on white) first.
OKABE_ITO = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)

_FIXED = {
    "adabound": OKABE_ITO[0],
    "adam": OKABE_ITO[1],
    "sgd": OKABE_ITO[2],
    "amsbound": OKABE_ITO[3],
    "amsgrad": OKABE_ITO[4],
    "adamw": OKABE_ITO[5],
    "adabelief": OKABE_ITO[6],
    "rmsprop": OKABE_ITO[7],
}

VERDICT_COLORS = {
    "SUPPORTED": "#009E73",
    "REFUTED": "#D55E00",
    "INCONCLUSIVE": "#6b6b6b",
}

DIVERGED_SYMBOL = "x"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


def optimizer_color(name: str) -> str:
    """The colour of `name`, identical in every figure of every study."""
    key = name.lower()
    if key in _FIXED:
        return _FIXED[key]
    return OKABE_ITO[zlib.crc32(key.encode()) % len(OKABE_ITO)]


def optimizer_colors(names: Iterable[str]) -> dict[str, str]:
    """`optimizer_color` for several names at once."""
    return {name: optimizer_color(name) for name in names}


def band_color(color: str, alpha: float = 0.18) -> str:
    """A translucent version of a `#rrggbb` colour for confidence bands."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def figure_config(name: str) -> Any:  # a plain dict: dcc.Graph types it as its own Config
    """plotly.js options for every figure, in the app and the report: no Plotly logo and no
    cloud buttons ("Share chart…" / "Edit in Chart Studio" offer to upload the figure from an
    offline tool); the camera downloads a PNG named after the figure (an SVG button sits under
    each figure: plotly.js's modebar has one image format)."""
    return {
        "displaylogo": False,
        "responsive": True,
        "showSendToCloud": False,
        "modeBarButtonsToRemove": ["sendDataToCloud", "editInChartStudio"],
        "toImageButtonOptions": {"format": "png", "filename": name, "scale": 2},
    }
