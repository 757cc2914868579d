"""The service's ZeroMQ side: the endpoint it binds and the connections it tracks."""
