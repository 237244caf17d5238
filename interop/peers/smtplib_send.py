#!/usr/bin/python3
"""Python smtplib (stdlib) as an independent SMTP client for the interop suite.

Usage: python3 smtplib_send.py '<json>'
  {"host","port","tls": "none"|"starttls"|"implicit","ca":"ca.crt","name":"ehlo name",
   "from","to","mail_options":["REQUIRETLS"],"headers":{...},"body"}

smtplib sends whatever mail_options it is given, whether or not the server
announced them, so it can exercise a server's rejection paths. Prints one line
"RESULT <json>" with the ESMTP keywords it saw and the reply to each step.
"""
import json
import smtplib
import ssl
import sys

cfg = json.loads(sys.argv[1])
ctx = ssl.create_default_context(cafile=cfg["ca"]) if cfg.get("ca") else None
name = cfg.get("name", "smtplib.interop.test")
result = {"ok": False, "stage": "connect"}
try:
    if cfg.get("tls") == "implicit":
        s = smtplib.SMTP_SSL(cfg["host"], cfg["port"], local_hostname=name, context=ctx, timeout=30)
    else:
        s = smtplib.SMTP(cfg["host"], cfg["port"], local_hostname=name, timeout=30)
    with s:
        result["stage"] = "ehlo"
        s.ehlo()
        if cfg.get("tls") == "starttls":
            result["stage"] = "starttls"
            s.starttls(context=ctx)
            s.ehlo()
        result["features"] = sorted(s.esmtp_features)
        headers = "".join(f"{k}: {v}\r\n" for k, v in cfg.get("headers", {}).items())
        msg = (f"From: <{cfg['from']}>\r\nTo: <{cfg['to']}>\r\nSubject: smtplib interop\r\n{headers}\r\n"
               + cfg.get("body", "hello from smtplib\r\n"))
        result["stage"] = "sendmail"
        refused = s.sendmail(cfg["from"], [cfg["to"]], msg.encode(), mail_options=cfg.get("mail_options") or [])
        result.update(ok=not refused, refused={k: [v[0], v[1].decode()] for k, v in refused.items()})
except smtplib.SMTPSenderRefused as e:
    result.update(stage="mail", code=e.smtp_code, reply=e.smtp_error.decode(errors="replace"))
except smtplib.SMTPRecipientsRefused as e:
    result.update(stage="rcpt", reply=str(e.recipients))
except smtplib.SMTPResponseException as e:
    result.update(code=e.smtp_code, reply=e.smtp_error.decode(errors="replace"))
except (OSError, smtplib.SMTPException) as e:
    result.update(error=f"{type(e).__name__}: {e}")
print("RESULT " + json.dumps(result), flush=True)
