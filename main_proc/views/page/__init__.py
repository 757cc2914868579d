"""The timeline page: a run's records drawn as one self-contained HTML page (status overview,
waterfall, the --watch grid and round-trip lines), with no script and nothing fetched."""
