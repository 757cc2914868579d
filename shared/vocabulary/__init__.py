"""Names both processes use for what happened, as data: failure causes, relay outcomes,
server notes, the audit's checks, STUN/TURN error codes."""
