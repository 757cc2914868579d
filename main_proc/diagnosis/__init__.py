"""What results mean: the verdict over servers/, relays/, addresses/; audit/; server products; exit status; explain."""
