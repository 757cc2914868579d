// Empty stand-in: only tests of pion/turn and pion/transport import testify; Debian's own copy
// would pull in yaml.v3 -> gopkg.in/check.v1, which Debian does not ship.
module github.com/stretchr/testify
