// nodemailer as an independent REQUIRETLS client for the interop suite.
//
// Usage: node nodemailer-send.mjs '<json>'
//   {"host","port","implicitTLS":bool,"opportunisticTLS":bool,"ca":"ca.crt","name":"ehlo name","from","to",
//    "requireTLSExtension":bool,"headers":{...},"subject","text"}
// Prints one line "RESULT <json>" with what nodemailer saw: ok + the server's final
// reply, or the error code and reply, plus the SMTP transcript it logged.
import nodemailer from 'nodemailer';
import fs from 'node:fs';
import util from 'node:util';

const cfg = JSON.parse(process.argv[2] || '{}');
const transcript = [];
const keep = (entry, message, ...args) => {
  const line = util.format(message, ...args);
  if (entry && (entry.tnx === 'client' || entry.tnx === 'server')) transcript.push(line);
};
const logger = Object.fromEntries(['trace', 'debug', 'info', 'warn', 'error', 'fatal'].map((l) => [l, keep]));

const transport = nodemailer.createTransport({
  host: cfg.host,
  port: cfg.port,
  secure: Boolean(cfg.implicitTLS),
  // STARTTLS is mandatory unless the job asks for nodemailer's opportunistic mode.
  requireTLS: !cfg.implicitTLS && !cfg.opportunisticTLS,
  name: cfg.name || 'nodemailer.interop.test',
  tls: { ca: fs.readFileSync(cfg.ca), servername: 'localhost' },
  logger,
  debug: true,
});
try {
  const info = await transport.sendMail({
    envelope: { from: cfg.from, to: [cfg.to] },
    from: cfg.from,
    to: cfg.to,
    subject: cfg.subject || 'nodemailer interop',
    text: cfg.text || 'hello from nodemailer',
    headers: cfg.headers || {},
    requireTLSExtensionEnabled: Boolean(cfg.requireTLSExtension),
  });
  console.log('RESULT ' + JSON.stringify({ ok: true, response: info.response, transcript }));
} catch (e) {
  console.log('RESULT ' + JSON.stringify({
    ok: false, code: e.code || '', responseCode: e.responseCode || 0, response: e.response || e.message, transcript,
  }));
}
transport.close();
