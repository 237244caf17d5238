package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/requiretls/go-requiretls/dsn"
	"github.com/requiretls/go-requiretls/header"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/requiretls"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// secretLine is in the body of every message; a bounce must never show it.
const secretLine = "The launch code is 0000."

// demoCase is one delivery: which message, to which receiver, under which
// enforcement level, and how it must end.
type demoCase struct {
	title      string
	why        string
	to         string       // receiver name
	level      policy.Level // enforcement level for this destination
	requireTLS bool         // MAIL FROM ... REQUIRETLS when the message was received
	header     string       // extra header fields of the message
	nullSender bool         // the message is itself a bounce
	source     string       // the submitting client's address, looked up in the lab's request policy

	wantStatus tlsstatus.Status
	wantTLS    string         // the tls= field Postfix 3.11 would log
	wantRET    smtp.DSNReturn // what the receiver must see as RET, if sent
}

var cases = []demoCase{
	{
		title: "REQUIRETLS, server supports it", to: "mx-requiretls", level: policy.Enforce, requireTLS: true,
		why:        "TLS, a verified certificate and REQUIRETLS after STARTTLS: sent with REQUIRETLS (RFC 8689 Section 4.2.1).",
		wantStatus: tlsstatus.Sent, wantTLS: "verify/requiretls", wantRET: smtp.DSNReturnFull,
	},
	{
		title: "REQUIRETLS, no REQUIRETLS at next hop", to: "mx-starttls", level: policy.Enforce, requireTLS: true,
		why:        "enforce: the server did not announce REQUIRETLS after TLS, so the message is returned with 5.7.30.",
		wantStatus: tlsstatus.Bounced, wantTLS: "verify/!requiretls:none",
	},
	{
		title: "REQUIRETLS, downgraded", to: "mx-starttls", level: policy.OpportunisticSTARTTLS, requireTLS: true,
		why:        "opportunistic+starttls: TLS is required, REQUIRETLS is not; sent without it and with RET=HDRS, so a later bounce returns headers only, as Postfix does.",
		wantStatus: tlsstatus.Sent, wantTLS: "verify/requiretls:none", wantRET: smtp.DSNReturnHeaders,
	},
	{
		title: "REQUIRETLS, server without STARTTLS", to: "mx-plaintext", level: policy.Enforce, requireTLS: true,
		why:        "enforce: no STARTTLS offered; never sent in the clear, returned with 5.7.30 as Postfix does (RFC 8689 names no code for this case).",
		wantStatus: tlsstatus.Bounced, wantTLS: "!verify/!requiretls:nostarttls",
	},
	{
		title: "REQUIRETLS, certificate does not verify", to: "mx-badcert", level: policy.Enforce, requireTLS: true,
		why:        "enforce: the server announces REQUIRETLS, but its certificate is self-signed: returned with 5.7.10.",
		wantStatus: tlsstatus.Bounced, wantTLS: "!verify/!requiretls:nocertmatch",
	},
	{
		title: "TLS-Required: No, certificate fails", to: "mx-badcert", level: policy.Enforce,
		header:     "TLS-Required: No\r\n",
		why:        "the sender asked that TLS not be required: opportunistic TLS, no certificate check (RFC 8689 Section 4.2.2).",
		wantStatus: tlsstatus.Sent, wantTLS: "may", wantRET: smtp.DSNReturnFull,
	},
	{
		title: "a bounce of a REQUIRETLS message", to: "mx-starttls", level: policy.Enforce, requireTLS: true, nullSender: true,
		why:        "empty reverse path: no REQUIRETLS at the next hop must not cause a bounce to be discarded (RFC 8689 Section 5).",
		wantStatus: tlsstatus.Sent, wantTLS: "verify/requiretls:none",
	},
	{
		title: "monitor: REQUIRETLS, no REQUIRETLS at next hop", to: "mx-starttls", level: policy.Monitor, requireTLS: true,
		why:        "monitor (ours): delivered as opportunistic, and the log says what enforce would have done.",
		wantStatus: tlsstatus.Sent, wantTLS: "verify/requiretls:none", wantRET: smtp.DSNReturnHeaders,
	},
	{
		title: "no REQUIRETLS, tagged by source network", to: "mx-requiretls", level: policy.Enforce, source: "10.1.2.3",
		why: "submitted from 10.1.2.3 without REQUIRETLS; the request policy " + requestClients +
			" tags it Required, so it is sent with REQUIRETLS (requiretls.RequestPolicy).",
		wantStatus: tlsstatus.Sent, wantTLS: "verify/requiretls", wantRET: smtp.DSNReturnFull,
	},
}

// result is how one case ended.
type result struct {
	Number     int    `json:"number"`
	Title      string `json:"title"`
	Why        string `json:"why"`
	Policy     string `json:"requiretls_policy"` // the requiretls policy level for the destination
	Tag        string `json:"tag"`
	TLS        string `json:"tls"`
	Status     string `json:"status"`
	Outcome    string `json:"outcome"`
	LogLine    string `json:"log_line"`
	Receiver   string `json:"receiver,omitempty"`
	Monitor    string `json:"monitor,omitempty"`
	DSN        string `json:"dsn,omitempty"`
	BodyInDSN  bool   `json:"body_in_dsn"`
	AsExpected bool   `json:"as_expected"`
}

func (c *demoCase) message(n int) []byte {
	return []byte("From: Alice <alice@sender.example>\r\n" +
		"To: Bob <bob@rcpt.example>\r\n" +
		"Subject: Quarterly numbers\r\n" +
		fmt.Sprintf("Message-ID: <demo-%d@sender.example>\r\n", n) +
		c.header +
		"\r\n" +
		"Hi Bob,\r\n" + secretLine + "\r\n")
}

// play delivers one case's message the way delivery code would: tag it,
// look at the policy stage by stage through requiretls.Dialer, send or
// bounce, and log the Postfix-style line.
func (l *lab) play(ctx context.Context, c demoCase) result {
	l.queueID++
	n := l.queueID
	rcv := l.receivers[c.to]
	msg := c.message(n)

	facts, _, _ := header.Scan(msg)
	requested := c.source != "" && l.request.Requests(c.source)
	a := policy.Attempt{
		Tag:        policy.Signals{RequireTLS: c.requireTLS || requested, TLSRequiredNo: facts.TLSRequiredNo}.Tag(),
		NullSender: c.nullSender,
		Level:      c.level,
		Host:       c.to,
		Auth:       policy.AuthStaticPKIX, // a static next hop, certificate checked with PKIX
		TLSLevel:   tlsstatus.Verify,      // policy caps it at "may" for TLS-Required: No
	}
	r := result{Number: n, Title: c.title, Why: c.why, Policy: c.level.String(), Tag: a.Tag.String()}
	d := &requiretls.Dialer{
		LocalName: "sender.example",
		TLSConfig: &tls.Config{RootCAs: l.ca.Pool(), ServerName: "localhost"},
		Timeout:   5 * time.Second,
	}
	from := "alice@sender.example"
	if c.nullSender {
		from = ""
	}

	start := time.Now()
	line := tlsstatus.Delivery{
		Program: "postfix/smtp", PID: 4711,
		QueueID: fmt.Sprintf("%X", 0xDE30000+n),
		To:      "bob@rcpt.example",
		Relay:   relay(c.to, rcv.addr),
	}
	conn, err := d.Dial(ctx, rcv.addr, a)
	var pe *requiretls.PolicyError
	switch {
	case errors.As(err, &pe):
		line.TLS = pe.Field()
		line.DSN = pe.Decision.Code.String()
		line.Reason = pe.Decision.Reason()
		line.Status = tlsstatus.Deferred
		if pe.Decision.Action == policy.Bounce {
			line.Status = tlsstatus.Bounced
			r.DSN, r.BodyInDSN = l.bounce(c, msg, pe)
		}
	case err != nil:
		line.Status, line.DSN, line.Reason = tlsstatus.Deferred, "4.4.2", err.Error()
	default:
		line.TLS = conn.Field()
		resp, err := send(conn, from, msg, !c.nullSender)
		if err != nil {
			line.Status, line.DSN, line.Reason = tlsstatus.Deferred, "4.4.2", err.Error()
			break
		}
		line.Status, line.DSN, line.Reason = tlsstatus.Sent, "2.0.0", resp
		if w := conn.Decision.WouldEnforce; w.Action != 0 {
			r.Monitor = fmt.Sprintf("enforce would have decided %s %s: %s", w.Action, w.Code, w.Reason())
		}
		got := rcv.store.lastMessage()
		r.Receiver = fmt.Sprintf("MAIL FROM had REQUIRETLS: %v, RET=%s, tag %s", got.requireTLS, orNone(string(got.ret)), tagOf(got))
		r.AsExpected = got.ret == c.wantRET && got.requireTLS == (conn.Decision.Action == policy.SendRequireTLS)
	}
	elapsed := time.Since(start).Seconds()
	line.Delay = fmt.Sprintf("%.2f", elapsed)
	line.Delays = fmt.Sprintf("0/0/%.2f/0", elapsed)

	r.TLS, r.Status, r.LogLine = line.TLS.String(), string(line.Status), line.String()
	l.tally.AddLine(r.LogLine) // the tally reads the log line back, as examples/tally does
	r.Outcome = string(line.Status)
	if line.DSN != "2.0.0" {
		r.Outcome += " " + line.DSN
	}
	if line.Status != tlsstatus.Sent {
		r.AsExpected = true
	}
	r.AsExpected = r.AsExpected && line.Status == c.wantStatus && r.TLS == c.wantTLS && !r.BodyInDSN
	return r
}

// send transmits msg on conn as the decision requires and returns the
// server's final reply.
func send(conn *requiretls.Conn, from string, msg []byte, retFull bool) (string, error) {
	defer conn.Close()
	var opts smtp.MailOptions
	if retFull { // a bounce carries no RET (RFC 3461 Section 6.1)
		opts.Return = smtp.DSNReturnFull
	}
	if err := conn.Mail(from, &opts); err != nil {
		return "", err
	}
	if err := conn.Rcpt("bob@rcpt.example", nil); err != nil {
		return "", err
	}
	w, err := conn.Data()
	if err != nil {
		return "", err
	}
	if _, err := w.Write(msg); err != nil {
		return "", err
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", err
	}
	conn.Quit()
	return "250 " + resp.StatusText, nil
}

// bounce composes the DSN that goes back to the sender, and reports whether
// the original body leaked into it.
func (l *lab) bounce(c demoCase, msg []byte, pe *requiretls.PolicyError) (string, bool) {
	var b bytes.Buffer
	reply := pe.Reply()
	rcpt, err := dsn.RecipientFromReply("bob@rcpt.example", c.to, dsn.SMTPReply{
		Code: reply.Code, EnhancedCode: reply.EnhancedCode, Message: reply.Message})
	if err != nil {
		return "composing the bounce failed: " + err.Error(), false
	}
	_, err = dsn.Compose(&b, &dsn.Report{
		From:         "MAILER-DAEMON@sender.example (Mail Delivery System)",
		To:           "alice@sender.example",
		ReportingMTA: "dns; sender.example",
		Recipients:   []dsn.Recipient{rcpt},
		RequireTLS:   c.requireTLS,
		Ret:          dsn.RetFull, // asked for, and disregarded for REQUIRETLS (RFC 8689 Section 5)
	}, bytes.NewReader(msg))
	if err != nil {
		return "composing the bounce failed: " + err.Error(), false
	}
	return b.String(), strings.Contains(b.String(), secretLine)
}

func relay(name, addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	return name + "[" + host + "]:" + port
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func tagOf(got received) string {
	if !got.tagged {
		return "(not tagged: plain go-smtp)"
	}
	return got.tag.String()
}
