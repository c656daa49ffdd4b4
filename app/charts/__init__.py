"""Server-drawn SVG charts: no script, no CDN, no inline style (the CSP forbids it).

Every chart has a <title> and <desc> and sits next to a data table or a text alternative
(JIS X 8341-3). Colours come from the colour-blind-safe palette below, always with symbols or labels.
"""
