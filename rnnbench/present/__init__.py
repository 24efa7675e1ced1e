"""How the numbers look: units and number formatting, terminal tables, Markdown, HTML, exports and figures.
Functions return strings, renderables and files; only ``cli`` prints.

May import: ``analyse``, ``results``, ``core``.
"""
