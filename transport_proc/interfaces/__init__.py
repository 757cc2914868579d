"""The machine's interface addresses: learned from the kernel over netlink at start-up and kept
current by its notifications (``netlink`` parses, ``address_book`` keeps, ``tracker`` reads the
socket)."""
