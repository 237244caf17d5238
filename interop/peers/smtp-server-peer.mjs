// smtp-server (nodemailer project) as an independent SMTP peer for the interop suite.
//
// Usage: node smtp-server-peer.mjs PORT MODE EVENTS_FILE
//   MODE requiretls: STARTTLS, REQUIRETLS announced after TLS (hideREQUIRETLS:false), role (b)
//   MODE starttls:   STARTTLS, default hideREQUIRETLS:true; it still accepts the parameter (lenient (c))
//   MODE plain:      no STARTTLS at all, role (d)
// CERT_DIR must hold server.key and server-chain.crt for the TLS modes.
//
// Every SMTP line in both directions and every accepted envelope is appended to
// EVENTS_FILE as one JSON object per line, synchronously, before the reply is sent,
// so a test that has read our reply can read what the peer saw.
import { SMTPServer } from 'smtp-server';
import fs from 'node:fs';
import util from 'node:util';

const [portArg, mode, eventsFile] = process.argv.slice(2);
if (!portArg || !['requiretls', 'starttls', 'plain'].includes(mode) || !eventsFile) {
  console.error('usage: node smtp-server-peer.mjs PORT requiretls|starttls|plain EVENTS_FILE');
  process.exit(2);
}
const peer = `smtp-server-${mode}`;
const record = (obj) => fs.appendFileSync(eventsFile, JSON.stringify({ peer, ...obj }) + '\n');

// A bunyan-shaped logger: smtp-server calls it with ({cid, tnx, ...}, format, ...args).
const log = (level) => (entry, message, ...args) =>
  record({ kind: 'log', level, cid: entry && entry.cid, tnx: entry && entry.tnx, msg: util.format(message, ...args) });
const logger = Object.fromEntries(['trace', 'debug', 'info', 'warn', 'error', 'fatal'].map((l) => [l, log(l)]));

const opts = {
  secure: false,
  name: 'smtp-server.interop.test',
  authOptional: true,
  disabledCommands: mode === 'plain' ? ['AUTH', 'STARTTLS'] : ['AUTH'],
  hideSTARTTLS: mode === 'plain',
  hideREQUIRETLS: mode !== 'requiretls',
  hideDSN: false, // offer DSN so a downgrade's RET=HDRS (Postfix 3.11 behaviour) is visible here
  hideENHANCEDSTATUSCODES: false,
  logger,
  onMailFrom(address, session, cb) {
    record({
      kind: 'mail', cid: session.id, helo: session.hostNameAppearsAs, from: address.address, args: address.args || {}, secure: session.secure,
      requireTLS: session.envelope.requireTLS, dsn: session.envelope.dsn || null,
    });
    cb();
  },
  onData(stream, session, cb) {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => {
      const msg = Buffer.concat(chunks).toString('utf8');
      record({
        kind: 'data', cid: session.id, helo: session.hostNameAppearsAs, from: session.envelope.mailFrom.address,
        rcpt: session.envelope.rcptTo.map((r) => r.address), secure: session.secure,
        requireTLS: session.envelope.requireTLS, dsn: session.envelope.dsn || null,
        headers: msg.split(/\r?\n\r?\n/, 1)[0],
        content: msg.slice(0, 262144),
      });
      cb(null, 'Message queued by smtp-server');
    });
  },
};
if (mode !== 'plain') {
  const certDir = process.env.CERT_DIR;
  opts.key = fs.readFileSync(certDir + '/server.key');
  opts.cert = fs.readFileSync(certDir + '/server-chain.crt');
}
const server = new SMTPServer(opts);
server.on('error', (e) => record({ kind: 'error', msg: e.message }));
server.listen(Number(portArg), '127.0.0.1', () => console.log(`${peer} listening on 127.0.0.1:${portArg}`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
