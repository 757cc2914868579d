"""What the audit's facts mean: its findings, and their fixes in each product's words."""
