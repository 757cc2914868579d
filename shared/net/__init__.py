"""IP endpoints and their address families, address scopes, ICE candidate lines."""
