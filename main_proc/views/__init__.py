"""How results are shown: records (NDJSON), lines for a person, the progress line, and (``page/``)
the timeline page."""
