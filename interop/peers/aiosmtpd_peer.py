#!/usr/bin/python3
"""aiosmtpd (Debian python3-aiosmtpd) as an independent SMTP peer for the interop suite.

Usage: /usr/bin/python3 aiosmtpd_peer.py PORT MODE EVENTS_FILE
  MODE starttls: STARTTLS offered (CERT_DIR holds server.key, server-chain.crt); no REQUIRETLS, role (c)
  MODE plain:    no STARTTLS, role (d)

aiosmtpd knows nothing of RFC 8689: it answers any unknown MAIL parameter with
555. Every command the client sends, every reply line, and every accepted message
is appended to EVENTS_FILE as one JSON object per line before the reply goes out.
"""
import asyncio
import itertools
import json
import os
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP

if len(sys.argv) != 4 or sys.argv[2] not in ("starttls", "plain"):
    sys.exit("usage: aiosmtpd_peer.py PORT starttls|plain EVENTS_FILE")
PORT, MODE, EVENTS = int(sys.argv[1]), sys.argv[2], sys.argv[3]
PEER = "aiosmtpd-" + MODE
conn_ids = itertools.count(1)


def record(**obj):
    with open(EVENTS, "a", encoding="utf-8") as f:
        f.write(json.dumps({"peer": PEER, **obj}) + "\n")


class Handler:
    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or b""
        record(kind="data", cid=server.cid, helo=session.host_name, tls=session.ssl is not None,
               **{"from": envelope.mail_from}, rcpt=envelope.rcpt_tos, options=envelope.mail_options,
               headers=content.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace"),
               content=content[:262144].decode("utf-8", "replace"))
        return "250 OK message accepted by aiosmtpd"


class RecordingSMTP(SMTP):
    """Records the transcript; the SMTP behaviour is aiosmtpd's own."""

    def connection_made(self, transport):
        super().connection_made(transport)
        if not hasattr(self, "cid"):  # connection_made runs again after STARTTLS
            self.cid = next(conn_ids)
            record(kind="log", cid=self.cid, msg="connect")

    def connection_lost(self, error):
        record(kind="log", cid=self.cid, msg="close")
        super().connection_lost(error)

    async def push(self, status):
        record(kind="log", cid=self.cid, msg="S: " + status)
        await super().push(status)

    def _handle_client_line(self, line):
        record(kind="log", cid=self.cid, tls=self.session.ssl is not None, msg="C: " + line)

    async def smtp_EHLO(self, hostname):
        self._handle_client_line("EHLO " + hostname)
        await super().smtp_EHLO(hostname)

    async def smtp_STARTTLS(self, arg):
        self._handle_client_line("STARTTLS")
        await super().smtp_STARTTLS(arg)

    async def smtp_MAIL(self, arg):
        self._handle_client_line("MAIL " + (arg or ""))
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg):
        self._handle_client_line("RCPT " + (arg or ""))
        await super().smtp_RCPT(arg)

    async def smtp_DATA(self, arg):
        self._handle_client_line("DATA")
        await super().smtp_DATA(arg)

    async def smtp_QUIT(self, arg):
        self._handle_client_line("QUIT")
        await super().smtp_QUIT(arg)


def main():
    tls = None
    if MODE == "starttls":
        cert_dir = os.environ["CERT_DIR"]
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(os.path.join(cert_dir, "server-chain.crt"), os.path.join(cert_dir, "server.key"))
    loop = asyncio.new_event_loop()
    factory = lambda: RecordingSMTP(Handler(), hostname="aiosmtpd.interop.test", tls_context=tls,
                                    require_starttls=False, auth_require_tls=False)
    server = loop.run_until_complete(loop.create_server(factory, host="127.0.0.1", port=PORT))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, loop.stop)
    print(f"{PEER} listening on 127.0.0.1:{PORT}", flush=True)
    loop.run_forever()
    server.close()


if __name__ == "__main__":
    main()
