// The `stun` npm package's example server (examples/stun-server.js of stun 2.1.0, version pinned
// in ../build.sh) on one loopback address, for icegather's tests. --mode example (the default)
// answers as that example does, quirk included: every Binding success response carries a NEW
// random transaction ID (createMessage() without the request's), so a conforming client
// cannot match it to its request. --mode echo is the same server copying the request's ID.
//
//   node server.js --host 127.0.0.1 --port 19302 [--mode example|echo]
//
// The package's server emits 'binding request' for a request of ANY method (it masks only the
// class bits), so an Allocate is answered with a Binding success response too.
'use strict';

const dgram = require('dgram');
const net = require('net');
const stun = require('stun');

function option(name, fallback) {
  const index = process.argv.indexOf('--' + name);
  return index >= 0 && index + 1 < process.argv.length ? process.argv[index + 1] : fallback;
}

const host = option('host', '127.0.0.1');
const port = Number(option('port', '19302'));
const mode = option('mode', 'example');
if (!['example', 'echo'].includes(mode)) {
  console.error(`--mode must be example or echo, not ${mode}`);
  process.exit(2);
}

const server = stun.createServer({ type: net.isIPv6(host) ? 'udp6' : 'udp4' });
const { STUN_BINDING_RESPONSE, STUN_EVENT_BINDING_REQUEST } = stun.constants;
// As in the example: it claims v1.0.0 whatever the package's version.
const userAgent = `node/${process.version} stun/v1.0.0`;

server.on(STUN_EVENT_BINDING_REQUEST, (request, rinfo) => {
  const message = stun.createMessage(STUN_BINDING_RESPONSE, mode === 'echo' ? request.transactionId : undefined);
  message.addXorAddress(rinfo.address, rinfo.port);
  message.addSoftware(userAgent);
  server.send(message, rinfo.port, rinfo.address);
  console.log(`${new Date().toISOString()} binding from ${rinfo.address}:${rinfo.port} ` +
    `request id ${request.transactionId.toString('hex')} answered with id ${message.transactionId.toString('hex')}`);
});

// Unlike the example, which has no 'error' listener and so dies on the first datagram that looks
// like STUN but does not decode, or on any error response it receives: logged, kept running.
server.on('error', (error) => console.log(`${new Date().toISOString()} error: ${error.message}`));

server.listen(port, host, () => {
  console.log(`[stun] server started on ${host}:${port} (mode ${mode})`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
