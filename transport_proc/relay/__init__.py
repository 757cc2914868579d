"""The relay check: data through an allocation to a peer socket of icegather's own and back."""
