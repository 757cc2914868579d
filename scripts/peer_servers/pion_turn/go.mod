module icegather.test/pion_turn

go 1.19

require (
	github.com/pion/logging v0.2.2
	github.com/pion/turn/v2 v2.1.0
)

require (
	github.com/pion/randutil v0.1.0 // indirect
	github.com/pion/stun v0.4.0 // indirect
	github.com/pion/transport/v2 v2.0.0 // indirect
)

// Built offline (GOPROXY=off) from Debian's golang-github-pion-turn.v2-dev and the packages it
// depends on: every module resolves to /usr/share/gocode/src, or to an empty stub under stubs/
// for the ones that only tests or code generators need and Debian does not ship.
replace (
	github.com/pion/logging => /usr/share/gocode/src/github.com/pion/logging
	github.com/pion/randutil => /usr/share/gocode/src/github.com/pion/randutil
	github.com/pion/stun => /usr/share/gocode/src/github.com/pion/stun
	github.com/pion/transport/v2 => /usr/share/gocode/src/github.com/pion/transport
	github.com/pion/turn/v2 => /usr/share/gocode/src/github.com/pion/turn/v2
	github.com/stretchr/testify => ./stubs/testify
	golang.org/x/mod => ./stubs/x-mod
	golang.org/x/net => /usr/share/gocode/src/golang.org/x/net
	golang.org/x/sys => /usr/share/gocode/src/golang.org/x/sys
	golang.org/x/term => ./stubs/x-term
	golang.org/x/text => /usr/share/gocode/src/golang.org/x/text
	golang.org/x/tools => ./stubs/x-tools
)
