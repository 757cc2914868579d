// Empty stand-in: golang.org/x/net requires it, but no package this server builds imports it.
module golang.org/x/term
