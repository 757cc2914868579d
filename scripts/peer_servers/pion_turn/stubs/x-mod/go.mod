// Empty stand-in: golang.org/x/text requires it for its code generators only.
module golang.org/x/mod
