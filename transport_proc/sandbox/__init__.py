"""The transport's confinement of itself once start-up is done: resource limits, no new
privileges, Landlock (no file access but name resolution's) and a seccomp-bpf allow-list, as
Firefox confines its socket process (``docs/architecture.md``, "The sandbox")."""
