// Starts node-turn (npm, version pinned in ../build.sh) on one loopback address for icegather's
// tests; scripts/peer_turn.py runs it with NODE_PATH pointing at the cache's node_modules.
//
//   node server.js --host 127.0.0.1 --port 3478 --users alice=pass,bob=pass --realm r [--no-auth]
//                  [--debug-level INFO]
//
// Listens and relays on --host only: node-turn otherwise listens on every interface address
// and picks relay addresses itself. It serves UDP only (no TCP or TLS listener exists in it).
'use strict';

const Turn = require('node-turn');

function option(name, fallback) {
  const index = process.argv.indexOf('--' + name);
  return index >= 0 && index + 1 < process.argv.length ? process.argv[index + 1] : fallback;
}

const host = option('host', '127.0.0.1');
const credentials = {};
for (const pair of option('users', '').split(',')) {
  const at = pair.indexOf('=');
  if (at > 0) credentials[pair.slice(0, at)] = pair.slice(at + 1);
}
const authentication = !process.argv.includes('--no-auth');
if (authentication && Object.keys(credentials).length === 0) {
  console.error('--users is required ("name=password,..."), or --no-auth');
  process.exit(2);
}

const server = new Turn({
  listeningIps: [host],
  relayIps: [host],
  listeningPort: Number(option('port', '3478')),
  authMech: authentication ? 'long-term' : 'none',
  credentials,
  realm: option('realm', 'atlantis-software.net'),
  debugLevel: option('debug-level', 'INFO'),
  // node-turn logs through console.log by default; stamped lines make its log readable.
  log: (message) => console.log(new Date().toISOString() + ' ' + message),
});
server.start();

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.stop();
    process.exit(0);
  });
}
