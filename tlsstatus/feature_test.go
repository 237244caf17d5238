package tlsstatus

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFeaturePostfixStates covers every row of the REQUIRETLS states table
// (postfix-3.11 §3, checklist §7.4; E21: logging belongs in tlsstatus) and
// the RFC 8689 Section 4.2.1 steps each state reports on.
func TestFeaturePostfixStates(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Feature
	}{
		{"R35 requiretls sent, certificate matched", "requiretls", Feature{Name: RequireTLS}},
		{"R27.4 requiretls nocertmatch compliant", "requiretls:nocertmatch", Feature{Name: RequireTLS, Final: NoCertMatch}},
		{"R27.4 enforce nocertmatch violation", "!requiretls:nocertmatch", Feature{Name: RequireTLS, Final: NoCertMatch, Violation: true}},
		{"R27.5 enforce no REQUIRETLS after TLS", "!requiretls:none", Feature{Name: RequireTLS, Final: None, Violation: true}},
		{"R27.5 opportunistic downgrade", "requiretls:none", Feature{Name: RequireTLS, Final: None}},
		{"R27.2 no STARTTLS", "!requiretls:nostarttls", Feature{Name: RequireTLS, Final: NoSTARTTLS, Violation: true}},
		{"R27.3 TLS level none", "!requiretls:noencryption", Feature{Name: RequireTLS, Final: NoEncryption, Violation: true}},
		{"undecided", "requiretls?", Feature{Name: RequireTLS, Undecided: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFeature(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.in, got.String())
			assert.True(t, got.Known(), "a state Postfix 3.11 logs")
		})
	}
}

// TestFieldPostfixExamples parses every tls= value shown in postfix-3.11 §3
// and checklist §7.4, including the synthetic grok-pattern strings.
func TestFieldPostfixExamples(t *testing.T) {
	tests := []struct {
		in   string
		want Field
	}{
		{"none", Field{{Name: None}}},
		{"may", Field{{Name: May}}},
		{"may?", Field{{Name: May, Undecided: true}}},
		{"may:none", Field{{Name: May, Final: None}}},
		{"dane", Field{{Name: DANE}}},
		{"dane:halfdane", Field{{Name: DANE, Final: HalfDANE}}},
		{"dane:encrypt", Field{{Name: DANE, Final: Encrypt}}},
		{"dane?", Field{{Name: DANE, Undecided: true}}},
		{"dane/requiretls", Field{{Name: DANE}, {Name: RequireTLS}}},
		{"may/requiretls:none", Field{{Name: May}, {Name: RequireTLS, Final: None}}},
		{"may?/!requiretls:nocertmatch", Field{{Name: May, Undecided: true}, {Name: RequireTLS, Final: NoCertMatch, Violation: true}}},
		{"dane/!requiretls:nocertmatch", Field{{Name: DANE}, {Name: RequireTLS, Final: NoCertMatch, Violation: true}}},
		{"dane/requiretls?", Field{{Name: DANE}, {Name: RequireTLS, Undecided: true}}},
		{"dane/!requiretls:nostarttls", Field{{Name: DANE}, {Name: RequireTLS, Final: NoSTARTTLS, Violation: true}}},
		{"may:none/!requiretls:nostarttls", Field{{Name: May, Final: None}, {Name: RequireTLS, Final: NoSTARTTLS, Violation: true}}},
		{"unknown?/requiretls?", Field{{Name: Unknown, Undecided: true}, {Name: RequireTLS, Undecided: true}}},
		{"encrypt/!requiretls:noencryption", Field{{Name: Encrypt}, {Name: RequireTLS, Final: NoEncryption, Violation: true}}},
		{"fingerprint/requiretls", Field{{Name: Fingerprint}, {Name: RequireTLS}}},
		{"dane-only/requiretls", Field{{Name: DANEOnly}, {Name: RequireTLS}}},
		{"verify/requiretls:nocertmatch", Field{{Name: Verify}, {Name: RequireTLS, Final: NoCertMatch}}},
		{"secure/!requiretls:none", Field{{Name: Secure}, {Name: RequireTLS, Final: None, Violation: true}}},
		{"halfdane/requiretls", Field{{Name: HalfDANE}, {Name: RequireTLS}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseField(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.in, got.String())
			for _, f := range got {
				assert.True(t, f.Known(), "%s", f)
			}
		})
	}
}

// TestFeatureDocumentedInconsistencies: Postfix's smtp_requiretls_policy
// text says "requiretls:nomatch", which the code never logs (postfix-3.11
// §3); it parses, for forward compatibility, but is unknown. The README's
// experiment lists "requiretls:nostarttls" without "!": every name is known,
// and it round-trips as written.
func TestFeatureDocumentedInconsistencies(t *testing.T) {
	f, err := ParseFeature("requiretls:nomatch")
	require.NoError(t, err)
	assert.Equal(t, Feature{Name: RequireTLS, Final: "nomatch"}, f)
	assert.False(t, f.Known())
	assert.False(t, Name("nomatch").Known())
	assert.Equal(t, "requiretls:nomatch", f.String())

	f, err = ParseFeature("requiretls:nostarttls")
	require.NoError(t, err)
	assert.Equal(t, Feature{Name: RequireTLS, Final: NoSTARTTLS}, f)
	assert.Equal(t, "requiretls:nostarttls", f.String())
}

func TestNameKnown(t *testing.T) {
	for _, n := range []Name{None, May, Encrypt, Fingerprint, HalfDANE, DANE, DANEOnly, Verify, Secure, Unknown,
		RequireTLS, NoCertMatch, NoSTARTTLS, NoEncryption} {
		assert.True(t, n.Known(), "%s", n)
	}
	for _, n := range []Name{"", "nomatch", "MAY", "requiretls2", "mta-sts"} {
		assert.False(t, n.Known(), "%q", n)
	}
	assert.False(t, Feature{Name: "future"}.Known())
	assert.False(t, Feature{Name: May, Final: "future"}.Known())
}

func TestFeatureStringZero(t *testing.T) {
	assert.Equal(t, "", Feature{}.String())
	assert.Equal(t, "", Feature{Violation: true, Undecided: true}.String(), "inactive slot")
	// Postfix omits inactive slots, so a zero feature adds no "/".
	assert.Equal(t, "may/requiretls", Field{{Name: May}, {}, {Name: RequireTLS}}.String())
	assert.Equal(t, "", Field(nil).String())
}

func TestParseFeatureErrors(t *testing.T) {
	tests := []struct {
		in     string
		offset int
	}{
		{"", 0},
		{"!", 1},
		{"?", 0},
		{"!?", 1},
		{"requiretls:", 11},
		{":none", 0},
		{"may:none:x", 8},
		{"may!", 3},
		{"!!may", 1},
		{"may??", 3},
		{"requi retls", 5},
		{"may,", 3},
		{"may\x00", 3},
		{"dané", 3},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseFeature(tt.in)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrSyntax)
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tt.in, pe.Input)
			assert.Equal(t, tt.offset, pe.Offset)
			assert.True(t, strings.HasPrefix(err.Error(), "tlsstatus: "), err.Error())
		})
	}
}

func TestParseFieldErrors(t *testing.T) {
	tests := []struct {
		in     string
		offset int
	}{
		{"", 0},
		{"/", 0},
		{"may/", 4},
		{"/requiretls", 0},
		{"may//requiretls", 4},
		{"may/requiretls:", 15},
		{"may/require tls", 11},
		{strings.Repeat("a/", maxFeatures) + "a", 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			fl, err := ParseField(tt.in)
			assert.Nil(t, fl)
			require.ErrorIs(t, err, ErrSyntax)
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tt.offset, pe.Offset)
		})
	}
	fl, err := ParseField(strings.Repeat("a/", maxFeatures-1) + "a")
	require.NoError(t, err)
	assert.Len(t, fl, maxFeatures)
}

func TestParseErrorBoundsMessage(t *testing.T) {
	long := strings.Repeat("x", 10000) + "!"
	_, err := ParseFeature(long)
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 300)
	assert.True(t, errors.Is(err, ErrSyntax))
}

func TestFieldLookup(t *testing.T) {
	fl, err := ParseField("may?/!requiretls:nocertmatch")
	require.NoError(t, err)
	f, ok := fl.Lookup(RequireTLS)
	assert.True(t, ok)
	assert.Equal(t, Feature{Name: RequireTLS, Final: NoCertMatch, Violation: true}, f)
	f, ok = fl.Lookup(May)
	assert.True(t, ok)
	assert.Equal(t, Feature{Name: May, Undecided: true}, f)
	_, ok = fl.Lookup(DANE)
	assert.False(t, ok)
	_, ok = Field(nil).Lookup(RequireTLS)
	assert.False(t, ok)
}

func TestFeatureFieldLogValue(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: dropTime}))
	fl := Field{{Name: May, Final: None}, {Name: RequireTLS, Final: NoSTARTTLS, Violation: true}}
	log.Info("delivery", "tls", fl, "requiretls", fl[1])
	assert.Equal(t, "level=INFO msg=delivery tls=may:none/!requiretls:nostarttls requiretls=!requiretls:nostarttls\n", buf.String())

	buf.Reset()
	log = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: dropTime}))
	log.Info("delivery", "tls", fl)
	assert.JSONEq(t, `{"level":"INFO","msg":"delivery","tls":"may:none/!requiretls:nostarttls"}`, buf.String())
}

func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}
