"""What a gathering's or an audit's results mean: verdict tables, causes and fixes, exit statuses, explain."""
