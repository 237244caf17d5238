//go:build interop

package interop

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Environment set by interop/run. A missing variable fails the whole suite:
// a peer that is not there is a failure, not a skip.
var required = []string{
	"INTEROP_CA", "INTEROP_CERT", "INTEROP_KEY", "INTEROP_PYTHON", "INTEROP_NODE",
	"INTEROP_SMTPSERVER_REQUIRETLS", "INTEROP_SMTPSERVER_REQUIRETLS_LOG",
	"INTEROP_SMTPSERVER_STARTTLS", "INTEROP_SMTPSERVER_STARTTLS_LOG",
	"INTEROP_SMTPSERVER_PLAIN", "INTEROP_SMTPSERVER_PLAIN_LOG",
	"INTEROP_AIOSMTPD_STARTTLS", "INTEROP_AIOSMTPD_STARTTLS_LOG",
	"INTEROP_AIOSMTPD_PLAIN", "INTEROP_AIOSMTPD_PLAIN_LOG",
	"INTEROP_HARAKA", "INTEROP_HARAKA_LOG",
	"INTEROP_EXIM", "INTEROP_EXIM_LOG",
	"INTEROP_VERSION_NODEMAILER", "INTEROP_VERSION_SMTPSERVER", "INTEROP_VERSION_HARAKA",
	"INTEROP_VERSION_AIOSMTPD", "INTEROP_VERSION_EXIM", "INTEROP_VERSION_PYTHON",
}

func TestMain(m *testing.M) {
	flag.Parse()
	var missing []string
	for _, k := range required {
		if os.Getenv(k) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "interop: %s not set: run the suite with interop/run, which starts the peers\n",
			strings.Join(missing, ", "))
		os.Exit(1)
	}
	var err error
	if binDir, err = os.MkdirTemp("", "requiretls-interop-bin-"); err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	// A filtered run (-run) would write a partial matrix: only a full run writes it.
	if path := os.Getenv("INTEROP_MATRIX"); path != "" && flag.Lookup("test.run").Value.String() == "" {
		if err := writeMatrix(path); err != nil {
			fmt.Fprintln(os.Stderr, "interop:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// --- the peers -----------------------------------------------------------------

// peer is one running independent implementation: where it listens, where it logs.
type peer struct {
	Name    string // as in MATRIX.md
	Version string
	Addr    string
	Log     string
}

func peerFromEnv(name, key, versionKey string) peer {
	return peer{Name: name, Version: os.Getenv(versionKey), Addr: os.Getenv(key), Log: os.Getenv(key + "_LOG")}
}

var (
	smtpServerRequireTLS = func() peer {
		return peerFromEnv("smtp-server (hideREQUIRETLS:false)", "INTEROP_SMTPSERVER_REQUIRETLS", "INTEROP_VERSION_SMTPSERVER")
	}
	smtpServerStartTLS = func() peer {
		return peerFromEnv("smtp-server (default mode)", "INTEROP_SMTPSERVER_STARTTLS", "INTEROP_VERSION_SMTPSERVER")
	}
	smtpServerPlain = func() peer {
		return peerFromEnv("smtp-server (no STARTTLS)", "INTEROP_SMTPSERVER_PLAIN", "INTEROP_VERSION_SMTPSERVER")
	}
	aiosmtpdStartTLS = func() peer {
		return peerFromEnv("aiosmtpd (STARTTLS)", "INTEROP_AIOSMTPD_STARTTLS", "INTEROP_VERSION_AIOSMTPD")
	}
	aiosmtpdPlain = func() peer {
		return peerFromEnv("aiosmtpd (no STARTTLS)", "INTEROP_AIOSMTPD_PLAIN", "INTEROP_VERSION_AIOSMTPD")
	}
	haraka = func() peer { return peerFromEnv("Haraka", "INTEROP_HARAKA", "INTEROP_VERSION_HARAKA") }
	exim   = func() peer { return peerFromEnv("Exim (STARTTLS)", "INTEROP_EXIM", "INTEROP_VERSION_EXIM") }
)

// caPool holds the test CA that signed every peer's certificate (and ours).
func caPool(t *testing.T) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(os.Getenv("INTEROP_CA"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem), "INTEROP_CA holds no certificate")
	return pool
}

// clientTLS verifies peers against the test CA: a peer's certificate is authenticated.
func clientTLS(t *testing.T) *tls.Config {
	return &tls.Config{RootCAs: caPool(t), ServerName: "localhost"}
}

// serverTLS is the certificate our own server presents (signed by the test CA).
func serverTLS(t *testing.T) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(os.Getenv("INTEROP_CERT"), os.Getenv("INTEROP_KEY"))
	require.NoError(t, err)
	return &tls.Config{Certificates: []tls.Certificate{cert}}
}

// heloName is a unique EHLO name per test, by which a peer's log is searched.
func heloName(t *testing.T) string {
	r := strings.NewReplacer("/", ".", "_", "-", " ", "-", "+", "-", "(", "", ")", "", ":", "")
	return strings.ToLower(r.Replace(t.Name())) + ".interop.test"
}

// waitFor polls cond until it holds; peers write their logs from another
// process, so a line may land a moment after the reply we read.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 300 {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.Failf(t, "peer log", "never saw %s", what)
}

// --- what a peer saw -------------------------------------------------------------

// seen is one SMTP session as the peer recorded it.
type seen struct {
	Lines     []string    // "C: ..." and "S: ..." in order, as the peer logged them
	Mail      []string    // MAIL commands received, verbatim
	Delivered []delivered // messages the peer accepted
	Closed    bool        // the peer logged the end of the session
}

type delivered struct {
	From       string
	TLS        bool
	RequireTLS bool   // smtp-server only: session.envelope.requireTLS
	Ret        string // smtp-server only: envelope.dsn.ret
	Headers    string
	Content    string // smtp-server and aiosmtpd: the message as received
}

func (s seen) saw(prefix string) bool {
	for _, l := range s.Lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// session reads the peer's log for the session whose EHLO name is helo.
// It waits until the peer has logged the end of the session.
func (p peer) session(t *testing.T, helo string) seen {
	t.Helper()
	var s seen
	waitFor(t, p.Name+" closing the session of "+helo, func() bool {
		s = p.read(t, helo)
		return s.Closed
	})
	return s
}

func (p peer) read(t *testing.T, helo string) seen {
	switch {
	case strings.HasPrefix(p.Name, "smtp-server"), strings.HasPrefix(p.Name, "aiosmtpd"):
		return readJSONLog(t, p.Log, helo)
	case p.Name == "Haraka":
		return readHarakaLog(t, p.Log, helo)
	case strings.HasPrefix(p.Name, "Exim"):
		return readEximLog(t, p.Log, helo)
	}
	require.FailNow(t, "no log reader for peer "+p.Name)
	return seen{}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	require.NoError(t, sc.Err())
	return lines
}

// readJSONLog reads the event file of peers/smtp-server-peer.mjs or peers/aiosmtpd_peer.py.
func readJSONLog(t *testing.T, path, helo string) seen {
	type event struct {
		Kind       string          `json:"kind"`
		CID        json.RawMessage `json:"cid"`
		Tnx        string          `json:"tnx"`
		Msg        string          `json:"msg"`
		From       string          `json:"from"`
		Secure     bool            `json:"secure"` // smtp-server
		TLS        bool            `json:"tls"`    // aiosmtpd
		RequireTLS bool            `json:"requireTLS"`
		DSN        *struct {
			Ret string `json:"ret"`
		} `json:"dsn"`
		Headers string `json:"headers"`
		Content string `json:"content"`
	}
	var events []event
	for _, l := range readLines(t, path) {
		var e event
		require.NoError(t, json.Unmarshal([]byte(l), &e), "peer event line %q", l)
		events = append(events, e)
	}
	cid := ""
	for _, e := range events {
		if e.Kind == "log" && (e.Msg == "C: EHLO "+helo || e.Msg == "C: HELO "+helo) {
			cid = string(e.CID)
			break
		}
	}
	var s seen
	if cid == "" {
		return s
	}
	for _, e := range events {
		if string(e.CID) != cid {
			continue
		}
		switch e.Kind {
		case "log":
			switch {
			case strings.HasPrefix(e.Msg, "C: ") || strings.HasPrefix(e.Msg, "S: "):
				s.Lines = append(s.Lines, strings.Split(strings.ReplaceAll(e.Msg, "\r\n", "\n"), "\n")...)
				if strings.HasPrefix(strings.ToUpper(e.Msg), "C: MAIL ") {
					s.Mail = append(s.Mail, e.Msg[3:])
				}
			case e.Msg == "close" || e.Tnx == "close":
				s.Closed = true
			}
		case "data":
			d := delivered{From: e.From, TLS: e.Secure || e.TLS, RequireTLS: e.RequireTLS, Headers: e.Headers, Content: e.Content}
			if e.DSN != nil {
				d.Ret = e.DSN.Ret
			}
			s.Delivered = append(s.Delivered, d)
		}
	}
	return s
}

// readHarakaLog reads Haraka's protocol-level log: "[PROTOCOL] [uuid] [core] C: EHLO name state=1".
func readHarakaLog(t *testing.T, path, helo string) seen {
	lines := readLines(t, path)
	uuid := ""
	for _, l := range lines {
		if strings.Contains(l, "] [core] C: EHLO "+helo+" ") {
			if f := strings.Fields(l); len(f) > 1 {
				uuid = strings.Trim(f[1], "[]")
			}
			break
		}
	}
	var s seen
	if uuid == "" {
		return s
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 4 {
			continue
		}
		id := strings.Trim(f[1], "[]")
		if id != uuid && !strings.HasPrefix(id, uuid+".") {
			continue
		}
		rest := strings.Join(f[3:], " ")
		switch {
		case f[0] == "[PROTOCOL]" && strings.HasPrefix(rest, "C: "):
			cmd := strings.TrimSuffix(rest, " state=1")
			s.Lines = append(s.Lines, cmd)
			if strings.HasPrefix(strings.ToUpper(cmd), "C: MAIL ") {
				s.Mail = append(s.Mail, cmd[3:])
			}
		case f[0] == "[PROTOCOL]" && strings.HasPrefix(rest, "S: "):
			s.Lines = append(s.Lines, rest)
		case strings.HasPrefix(rest, "queue code=OK"):
			s.Delivered = append(s.Delivered, delivered{TLS: true})
		case strings.HasPrefix(rest, "disconnect "):
			s.Closed = true
			if strings.Contains(rest, " tls=N ") {
				for i := range s.Delivered {
					s.Delivered[i].TLS = false
				}
			}
		}
	}
	return s
}

// readEximLog reads the INTEROP lines that peers/exim.conf.in's ACLs write to mainlog.
func readEximLog(t *testing.T, path, helo string) seen {
	var s seen
	for _, l := range readLines(t, path) {
		i := strings.Index(l, "INTEROP ")
		switch {
		case i >= 0 && strings.Contains(l, " helo="+helo+" "):
			rec := l[i+len("INTEROP "):]
			tlsOn := !strings.Contains(rec, " tls=none")
			switch {
			case strings.HasPrefix(rec, "ehlo "):
				s.Lines = append(s.Lines, fmt.Sprintf("C: EHLO %s (tls=%v)", helo, tlsOn))
			case strings.HasPrefix(rec, "mail "):
				cmd := rec[strings.Index(rec, " cmd=")+len(" cmd="):]
				s.Lines = append(s.Lines, "C: "+cmd)
				s.Mail = append(s.Mail, cmd)
			case strings.HasPrefix(rec, "data "):
				from := rec[strings.Index(rec, " from=<")+len(" from=<"):]
				from = from[:strings.Index(from, ">")]
				s.Delivered = append(s.Delivered, delivered{From: from, TLS: tlsOn})
			}
		case strings.Contains(l, "SMTP syntax error in \"MAIL") && strings.Contains(l, "H=("+helo+")"):
			cmd := l[strings.Index(l, "\"")+1:]
			cmd = cmd[:strings.Index(cmd, "\"")]
			s.Lines = append(s.Lines, "C: "+cmd, "S: 501 "+l[strings.LastIndex(l, "] ")+2:])
			s.Mail = append(s.Mail, cmd)
		case strings.Contains(l, "SMTP connection from ("+helo+") ") && strings.Contains(l, " closed"):
			s.Closed = true
		}
	}
	return s
}

// --- client peers ----------------------------------------------------------------

// runClient runs one of the client peer scripts with a JSON config and decodes
// its "RESULT {...}" line into out.
func runClient(t *testing.T, out any, argv ...string) string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = "peers"
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s: %s", argv[1], b)
	for _, l := range strings.Split(string(b), "\n") {
		if j, ok := strings.CutPrefix(l, "RESULT "); ok {
			require.NoError(t, json.Unmarshal([]byte(j), out), "%s", j)
			return string(b)
		}
	}
	require.Failf(t, "client peer", "%s printed no RESULT line:\n%s", argv[1], b)
	return ""
}

// --- the matrix ------------------------------------------------------------------

type row struct {
	Peer, Version, Direction, Case, Expect string
	Failed                                 bool
}

var matrix struct {
	sync.Mutex
	rows []*row
}

// Directions in MATRIX.md; the receiving side's come from ourSide.direction.
const (
	fromUs   = "our sender → peer server"
	ourProbe = "examples/probe → peer server"
	probe    = "raw probe → peer server (no code of ours)"
)

// expect registers t as the matrix row (p, direction, kase); its result is whether t passed.
func expect(t *testing.T, p peer, direction, kase, expectation string) {
	t.Helper()
	r := &row{Peer: p.Name, Version: p.Version, Direction: direction, Case: kase, Expect: expectation}
	matrix.Lock()
	matrix.rows = append(matrix.rows, r)
	matrix.Unlock()
	t.Cleanup(func() { r.Failed = t.Failed() })
}

// directionRank orders MATRIX.md: our receiving side, our sending side, the probes.
func directionRank(d string) int {
	switch d {
	case fromUs:
		return 1
	case ourProbe:
		return 2
	case probe:
		return 3
	}
	return 0
}

func writeMatrix(path string) error {
	matrix.Lock()
	defer matrix.Unlock()
	rows := matrix.rows
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Direction != b.Direction {
			return directionRank(a.Direction) < directionRank(b.Direction) ||
				directionRank(a.Direction) == directionRank(b.Direction) && a.Direction < b.Direction
		}
		if a.Peer != b.Peer {
			return a.Peer < b.Peer
		}
		return a.Case < b.Case
	})
	var b strings.Builder
	b.WriteString("<!-- Generated by interop/run (go test -tags interop ./interop/...); do not edit. -->\n")
	b.WriteString("| Peer | Version | Direction | Case | Asserted on the peer's side | Result |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, r := range rows {
		res := "pass"
		if r.Failed {
			res = "**FAIL**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.Peer, r.Version, r.Direction, r.Case,
			strings.ReplaceAll(r.Expect, "|", `\|`), res)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return err
	}
	if readme := os.Getenv("INTEROP_README"); readme != "" {
		return writeReadmeSummary(readme, rows)
	}
	return nil
}

// writeReadmeSummary replaces the README's interop section (between its
// markers) with one line per peer and direction, from the same rows.
func writeReadmeSummary(path string, rows []*row) error {
	const start, end = "<!-- interop-matrix:start -->", "<!-- interop-matrix:end -->"
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	i, j := strings.Index(string(old), start), strings.Index(string(old), end)
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %s ... %s markers", path, start, end)
	}
	type key struct{ peer, version, direction string }
	var keys []key
	pass, total := map[key]int{}, map[key]int{}
	for _, r := range rows {
		k := key{r.Peer, r.Version, r.Direction}
		if total[k] == 0 {
			keys = append(keys, k)
		}
		total[k]++
		if !r.Failed {
			pass[k]++
		}
	}
	var b strings.Builder
	b.WriteString(start + "\n")
	b.WriteString("| Peer | Version | Direction | Cases passed |\n|---|---|---|---|\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "| %s | %s | %s | %d of %d |\n", k.peer, k.version, k.direction, pass[k], total[k])
	}
	out := string(old[:i]) + b.String() + string(old[j:])
	return os.WriteFile(path, []byte(out), 0o644)
}
