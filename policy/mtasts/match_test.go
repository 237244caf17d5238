package mtasts_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/requiretls/go-requiretls/policy/mtasts"
)

var (
	label63 = strings.Repeat("a", 63)
	name253 = strings.Repeat("a.", 125) + "abc" // 253 bytes
)

// matchCases are MX names against mx patterns (RFC 8461 Section 4.1).
var matchCases = []struct {
	name    string
	pattern string
	mx      string
	want    bool
}{
	{"exact", "mail.example.com", "mail.example.com", true},
	{"MX in upper case", "mail.example.com", "MAIL.Example.COM", true},
	{"pattern in upper case", "MAIL.example.com", "mail.example.com", true},
	{"trailing dot on the MX is ignored", "mail.example.com", "mail.example.com.", true},
	{"two trailing dots", "mail.example.com", "mail.example.com..", false},
	{"the root alone", "mail.example.com", ".", false},
	{"shorter suffix", "mail.example.com", "mail.example.co", false},
	{"shorter prefix", "mail.example.com", "ail.example.com", false},
	{"longer prefix", "mail.example.com", "xmail.example.com", false},
	{"exact pattern does not match a subdomain", "example.com", "mail.example.com", false},
	{"exact pattern does not match the parent", "mail.example.com", "example.com", false},
	// The RFC's own vectors (Section 4.1, E17).
	{"wildcard, one label (RFC 8461 Section 4.1)", "*.example.com", "mail.example.com", true},
	{"wildcard does not match the bare domain (RFC 8461 Section 4.1)", "*.example.com", "example.com", false},
	{"wildcard does not match two labels (RFC 8461 Section 4.1)", "*.example.com", "foo.bar.example.com", false},
	{"wildcard, case and trailing dot", "*.example.com", "MX.Example.Com.", true},
	{"wildcard in upper-case pattern", "*.EXAMPLE.com", "mx.example.COM", true},
	{"wildcard, empty left label", "*.example.com", ".example.com", false},
	{"wildcard, MX is a wildcard", "*.example.com", "*.example.com", false},
	{"wildcard, MX has a partial wildcard", "*.example.com", "mx*.example.com", false},
	{"wildcard, suffix in the middle", "*.example.com", "mail.example.com.evil", false},
	{"wildcard, no dot before the suffix", "*.example.com", "mailexample.com", false},
	{"wildcard, longer parent label", "*.example.com", "mail.notexample.com", false},
	{"wildcard, invalid left label", "*.example.com", "-.example.com", false},
	{"wildcard, underscore in the left label", "*.example.com", "_mx.example.com", false},
	{"wildcard over one label", "*.com", "example.com", true},
	{"Microsoft 365", "*.mail.protection.outlook.com", "contoso-com.mail.protection.outlook.com", true},
	{"Microsoft 365, one label too many", "*.mail.protection.outlook.com", "a.contoso-com.mail.protection.outlook.com", false},
	{"Microsoft 365, the pattern's own parent", "*.mail.protection.outlook.com", "mail.protection.outlook.com", false},
	// Invalid patterns never match.
	{"partial-label wildcard", "mx*.example.com", "mx1.example.com", false},
	{"partial-label wildcard, literal", "mx*.example.com", "mx*.example.com", false},
	{"wildcard as a label prefix", "*mx.example.com", "amx.example.com", false},
	{"two wildcard labels", "*.*.example.com", "a.b.example.com", false},
	{"wildcard in the middle", "mail.*.example.com", "mail.x.example.com", false},
	{"wildcard alone", "*", "mail", false},
	{"wildcard and dot", "*.", "x.", false},
	{"empty pattern", "", "", false},
	{"empty MX", "example.com", "", false},
	{"pattern with a trailing dot", "mail.example.com.", "mail.example.com", false},
	{"pattern with an empty label", "mail..example.com", "mail..example.com", false},
	{"MX with an empty label", "*.example.com", "a..example.com", false},
	{"MX with a leading dot", "example.com", ".example.com", false},
	{"NUL in the MX", "mail.example.com", "mail.example.com\x00", false},
	{"space in the MX", "mail.example.com", "mail.example.com ", false},
	// IDN: A-labels compare like any label; U-labels are refused.
	{"A-label", "mx.xn--bcher-kva.example", "mx.xn--bcher-kva.example", true},
	{"A-label, case-insensitive, wildcard", "*.xn--bcher-kva.example", "MX.XN--BCHER-KVA.EXAMPLE", true},
	{"U-label MX against the A-label pattern", "mx.xn--bcher-kva.example", "mx.bücher.example", false},
	{"U-label pattern and MX", "mx.bücher.example", "mx.bücher.example", false},
	// Lengths (RFC 1035 Section 2.3.4).
	{"label of 63 bytes", label63 + ".example", label63 + ".example", true},
	{"label of 64 bytes", label63 + "a.example", label63 + "a.example", false},
	{"wildcard, left label of 64 bytes", "*.example", label63 + "a.example", false},
	{"name of 253 bytes", name253, name253 + ".", true},
	{"name of 254 bytes", "a" + name253, "a" + name253, false},
}

func TestMatch(t *testing.T) {
	for _, tc := range matchCases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, mtasts.Match(tc.pattern, tc.mx))
		})
	}
}

func TestPolicyMatch(t *testing.T) {
	p := rfcPolicyWant
	for mx, want := range map[string]bool{
		"mail.example.com":     true,
		"backupmx.example.com": true,
		"mx1.example.net":      true,
		"example.net":          false,
		"a.b.example.net":      false,
		"other.example.com":    false,
		"":                     false,
	} {
		assert.Equal(t, want, p.Match(mx), mx)
	}
	// A pattern that ParsePolicy would refuse, in a Policy built in Go,
	// never matches; the valid ones still do.
	p.MX = []string{"mx*.example.com", "mx.example.org"}
	assert.False(t, p.Match("mx1.example.com"))
	assert.True(t, p.Match("mx.example.org"))
	assert.False(t, mtasts.Policy{Mode: mtasts.ModeEnforce}.Match("mx.example.org"))
}
