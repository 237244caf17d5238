package requiretls

import (
	"strings"
	"testing"
)

// FuzzParseMail checks that ParseMail never panics and that what it accepts
// formats to a line that parses to the same value (R23: the tag survives).
func FuzzParseMail(f *testing.F) {
	for _, s := range []string{
		"MAIL FROM:<roger@example.org> REQUIRETLS",
		"MAIL FROM:<> REQUIRETLS\r\n",
		"mail from:<a@example.org> requiretls RET=HDRS ENVID=x+2By",
		"MAIL FROM:<@a.example,@b.example:c@d.example> SIZE=10 BODY=8BITMIME",
		`MAIL FROM:<"a b"@[192.0.2.1]> AUTH=<>`,
		"MAIL FROM:<δ@δ.example> SMTPUTF8 REQUIRETLS",
		"MAIL FROM:<a@example.org> REQUIRETLS=YES",
		"MAIL FROM:<a@example.org> REQUIRETLS REQUIRETLS",
		"MAIL FROM:<" + strings.Repeat("a", 600) + "@example.org>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		m, err := ParseMail(line)
		if err != nil {
			if m != nil {
				t.Fatalf("value and error both returned for %q", line)
			}
			return
		}
		out := m.String()
		again, err := ParseMail(out)
		if err != nil {
			t.Fatalf("ParseMail(%q) = %v; formatted %q does not parse: %v", line, m, out, err)
		}
		if again.String() != out || again.From != m.From || again.RequireTLS() != m.RequireTLS() || len(again.Params) != len(m.Params) {
			t.Fatalf("round trip changed %q: %#v != %#v", line, m, again)
		}
	})
}
