"""A grid of audio players with spectrogram thumbnails, for a notebook page (chapters 7 and 9).

Each cell shows one log-mel and plays its audio; the page embeds both (PNG and WAV as data URLs),
so it works offline and in the static book. :mod:`mvtutorial.listening` re-exports it.
"""
from __future__ import annotations

import base64
import io
from html import escape
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

__all__ = ["audio_grid_html"]


def _thumbnail(features: np.ndarray, size: tuple[float, float] = (1.6, 1.1)) -> str:
    """Base64 PNG of one log-mel ``(n_mels, n_frames)`` (low frequencies at the bottom)."""
    fig = Figure(figsize=size, dpi=80)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(features, origin="lower", aspect="auto", cmap="magma", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode()


def audio_grid_html(features, audio, row_labels: Sequence[str], col_labels: Sequence[str],
                    sample_rate: int = 16_000, title: str = "") -> str:
    """HTML table of log-mel thumbnails, each above its audio player.

    ``features`` ``(rows, cols, n_mels, n_frames)`` and ``audio`` ``(rows, cols, n_samples)``; cell
    ``(r, c)`` is labelled by ``row_labels[r]`` and ``col_labels[c]``. Display it with
    ``IPython.display.HTML``; players are ``IPython.display.Audio`` elements (WAV embedded in the page).
    """
    from IPython.display import Audio

    features, audio = np.asarray(features), np.asarray(audio)
    if features.ndim != 4 or audio.ndim != 3 or features.shape[:2] != audio.shape[:2]:
        raise ValueError(f"need features (rows, cols, n_mels, n_frames) and audio (rows, cols, n_samples) on one grid, "
                         f"got {features.shape} and {audio.shape}")
    if (len(row_labels), len(col_labels)) != features.shape[:2]:
        raise ValueError(f"{len(row_labels)} row and {len(col_labels)} column labels for a {features.shape[0]} x "
                         f"{features.shape[1]} grid")
    # The grid fits the page: at most its natural width (a 150 px player per column), shrinking with a
    # narrower page (the book's article, a notebook) down to players of about 100 px, below which
    # the box scrolls sideways instead of cutting the last columns off (inline styles: the same in
    # the book, Jupyter and Colab).
    n_cols, (col_min_px, col_px) = features.shape[1], (108, 160)  # a column's narrowest and natural width
    label_px = int(min(150, max(48, 8 * max(len(r) for r in row_labels) + 16)))  # bold, 0.8em: ~7.5 px a character
    widest, narrowest = label_px + n_cols * col_px, label_px + n_cols * col_min_px
    cell = "padding:2px 4px;text-align:center;vertical-align:top;overflow-wrap:break-word"
    head = "".join(f"<th style='{cell}'>{escape(c)}</th>" for c in col_labels)
    rows = []
    for r, label in enumerate(row_labels):
        cells = []
        for c in range(n_cols):
            clip = Audio(audio[r, c], rate=sample_rate, normalize=True)  # WAV, embedded as a data URL
            player = (f"<audio controls preload='auto' style='display:block;width:100%;max-width:150px;margin:0 auto'>"
                      f"<source src='{clip.src_attr()}' type='{clip.mimetype}'/></audio>")
            cells.append(f"<td style='{cell}'><img alt='log-mel, {escape(label)}, {escape(col_labels[c])}' "
                         f"src='data:image/png;base64,{_thumbnail(features[r, c])}' "
                         f"style='display:block;margin:0 auto;width:100%;max-width:128px;height:auto;aspect-ratio:128/88'/>"
                         f"{player}</td>")
        rows.append(f"<tr><th style='{cell};text-align:right'>{escape(label)}</th>{''.join(cells)}</tr>")
    caption = f"<caption style='caption-side:top;text-align:left'>{escape(title)}</caption>" if title else ""
    cols = f"<colgroup><col style='width:{label_px}px'/>{'<col/>' * n_cols}</colgroup>"
    return (f"<div style='overflow-x:auto;max-width:100%'><table class='audio-grid' style='border-collapse:collapse;"
            f"font-size:0.8em;table-layout:fixed;width:clamp({narrowest}px,100%,{widest}px)'>"
            f"{caption}{cols}<tr><th></th>{head}</tr>{''.join(rows)}</table></div>")
