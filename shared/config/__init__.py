"""A configuration as a browser takes it: ICE server URLs, iceServers checked as a browser
checks them, and the exceptions a browser raises."""
