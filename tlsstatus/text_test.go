package tlsstatus

import (
	"encoding"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	_ encoding.TextMarshaler   = Field(nil)
	_ encoding.TextUnmarshaler = (*Field)(nil)
	_ encoding.TextMarshaler   = Feature{}
	_ encoding.TextUnmarshaler = (*Feature)(nil)
)

// postfixFields are the forms Postfix 3.11 logs, plus a name it does not
// log, which still parses (forward compatibility).
var postfixFields = []string{
	"none", "may", "may?", "may:none", "dane", "dane:halfdane", "dane?",
	"dane/requiretls", "verify/requiretls:none", "may?/!requiretls:nocertmatch",
	"dane/!requiretls:nostarttls", "encrypt/!requiretls:noencryption",
	"verify/requiretls?", "unknown/requiretls", "requiretls:nomatch",
}

// TestFieldText: a Field is stored in its Postfix text form and reads back
// as ParseField gives it; so is each Feature.
func TestFieldText(t *testing.T) {
	for _, s := range postfixFields {
		t.Run(s, func(t *testing.T) {
			want, err := ParseField(s)
			require.NoError(t, err)
			b, err := want.MarshalText()
			assert.NoError(t, err)
			assert.Equal(t, s, string(b))
			var got Field
			assert.NoError(t, got.UnmarshalText(b))
			assert.Equal(t, want, got)
			for _, f := range want {
				b, err := f.MarshalText()
				assert.NoError(t, err)
				assert.Equal(t, f.String(), string(b))
				var g Feature
				assert.NoError(t, g.UnmarshalText(b))
				assert.Equal(t, f, g)
			}
		})
	}
}

// TestFieldTextEmpty: the empty text is the empty Field (a delivery line
// without tls=, as Delivery.TLS is nil for it) and the zero Feature, so
// that a record without the field stores and loads; inactive features are
// dropped, as String drops them.
func TestFieldTextEmpty(t *testing.T) {
	for _, fl := range []Field{nil, {}, {{}}, {{Violation: true, Final: May}}} {
		b, err := fl.MarshalText()
		assert.NoError(t, err)
		assert.Empty(t, b)
	}
	fl := Field{{Name: May}}
	require.NoError(t, fl.UnmarshalText(nil))
	assert.Nil(t, fl)
	f := Feature{Name: May}
	require.NoError(t, f.UnmarshalText([]byte{}))
	assert.Equal(t, Feature{}, f)
	b, err := Field{{}, {Name: Verify}, {}, {Name: RequireTLS, Final: None}}.MarshalText()
	assert.NoError(t, err)
	assert.Equal(t, "verify/requiretls:none", string(b))
}

// TestFieldUnmarshalTextInvalid: text that is not a field is an error
// wrapping ErrSyntax, and the Field or Feature is left unchanged.
func TestFieldUnmarshalTextInvalid(t *testing.T) {
	for _, s := range []string{
		"may//requiretls",                  // empty feature
		"/may",                             // empty first feature
		"may/",                             // empty last feature
		"!?",                               // no name
		"tls=may",                          // the key is not part of the value
		"may requiretls",                   // space
		"may,requiretls",                   // comma
		"may\x00",                          // control byte
		"mäy",                              // not ASCII
		strings.Repeat("may/", 16) + "may", // more than 16 features
	} {
		fl := Field{{Name: Secure}}
		err := fl.UnmarshalText([]byte(s))
		checkParseError(t, s, err)
		assert.Equal(t, Field{{Name: Secure}}, fl, "%q", s)
	}
	for _, s := range []string{"may/requiretls", "a:b:c", "!", "?", "!?"} {
		f := Feature{Name: Secure}
		err := f.UnmarshalText([]byte(s))
		checkParseError(t, s, err)
		assert.Equal(t, Feature{Name: Secure}, f, "%q", s)
	}
}

// TestFieldMarshalTextRefused: a Field whose text would read back as a
// different field is not written: a name holding the grammar's own
// characters ("/", ":", "!", "?"), a space or a control byte, or more
// features than ParseField reads. The error wraps ErrSyntax.
func TestFieldMarshalTextRefused(t *testing.T) {
	many := make(Field, maxFeatures+1)
	for i := range many {
		many[i] = Feature{Name: May}
	}
	for name, fl := range map[string]Field{
		"slash in name":      {{Name: "may/requiretls"}},
		"colon in name":      {{Name: "requiretls:none"}},
		"bang in name":       {{Name: "!requiretls"}},
		"question in final":  {{Name: RequireTLS, Final: "none?"}},
		"slash in final":     {{Name: RequireTLS, Final: "none/may"}},
		"space in final":     {{Name: May}, {Name: RequireTLS, Final: "none x"}},
		"newline in name":    {{Name: "may\nqueued"}},
		"too many features":  many,
		"bad second feature": {{Name: DANE}, {Name: "require tls"}},
	} {
		b, err := fl.MarshalText()
		assert.ErrorIs(t, err, ErrSyntax, name)
		assert.Nil(t, b, name)
		if len(fl) == 1 {
			b, err := fl[0].MarshalText()
			assert.ErrorIs(t, err, ErrSyntax, name)
			assert.Nil(t, b, name)
		}
		_, err = json.Marshal(struct{ TLS Field }{fl})
		assert.ErrorIs(t, err, ErrSyntax, name)
	}
	b, err := Field{{Name: "forward.Compat_1+x"}}.MarshalText()
	assert.NoError(t, err, "the characters checkName allows are stored")
	assert.Equal(t, "forward.Compat_1+x", string(b))
}

// logRecord is one delivery as a log store would keep it.
type logRecord struct {
	QueueID    string  `json:"queue_id"`
	TLS        Field   `json:"tls,omitempty"`
	RequireTLS Feature `json:"requiretls"`
}

// TestFieldTextJSON: Field and Feature round-trip through encoding/json in
// their Postfix form, as struct fields and (Feature) as map keys.
func TestFieldTextJSON(t *testing.T) {
	fl, err := ParseField("verify/requiretls:none")
	require.NoError(t, err)
	rt, _ := fl.Lookup(RequireTLS)
	in := []logRecord{
		{QueueID: "4QXk2T", TLS: fl, RequireTLS: rt},
		{QueueID: "4QXk2U"},
	}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	assert.Equal(t, `[{"queue_id":"4QXk2T","tls":"verify/requiretls:none","requiretls":"requiretls:none"},`+
		`{"queue_id":"4QXk2U","requiretls":""}]`, string(b))
	var out []logRecord
	require.NoError(t, json.Unmarshal(b, &out))
	assert.Equal(t, in, out)

	counts := map[Feature]int{rt: 3, {Name: RequireTLS, Final: NoSTARTTLS, Violation: true}: 1}
	b, err = json.Marshal(counts)
	require.NoError(t, err)
	assert.Equal(t, `{"!requiretls:nostarttls":1,"requiretls:none":3}`, string(b))
	var back map[Feature]int
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, counts, back)

	for _, s := range []string{
		`{"tls":[{"Name":"may"}]}`, // the struct form json gave before MarshalText
		`{"tls":"may//requiretls"}`,
		`{"requiretls":"requiretls:none:x"}`,
		`{"tls":7}`,
	} {
		var r logRecord
		assert.Error(t, json.Unmarshal([]byte(s), &r), s)
	}
	var r logRecord
	err = json.Unmarshal([]byte(`{"tls":"may/tls=x"}`), &r)
	assert.ErrorIs(t, err, ErrSyntax)
}

// FuzzFieldText checks that UnmarshalText agrees with ParseField (the empty
// text apart), that what it reads marshals back to the same text, and that
// a Field built from arbitrary names either marshals to text that reads
// back as its active features or is refused with ErrSyntax.
func FuzzFieldText(f *testing.F) {
	for _, s := range postfixFields {
		f.Add(s, "requiretls", "none")
	}
	f.Add("", "", "")
	f.Add("may//requiretls", "a/b", "c:d")
	f.Add("!?", "!x", "y?")
	f.Fuzz(func(t *testing.T, s, name, final string) {
		var fl Field
		err := fl.UnmarshalText([]byte(s))
		if s == "" {
			if err != nil || fl != nil {
				t.Fatalf("empty text gives %v, %v", fl, err)
			}
		} else {
			want, perr := ParseField(s)
			if (err == nil) != (perr == nil) {
				t.Fatalf("%q: UnmarshalText %v, ParseField %v", s, err, perr)
			}
			if err != nil {
				checkParseError(t, s, err)
			} else {
				b, err := fl.MarshalText()
				if err != nil || string(b) != s || fl.String() != want.String() {
					t.Fatalf("%q: MarshalText gives %q, %v", s, b, err)
				}
			}
		}

		built := Field{{Name: Name(name), Final: Name(final)}, {Name: May, Violation: true, Undecided: true}}
		b, err := built.MarshalText()
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("%q %q: untyped error %v", name, final, err)
			}
			return
		}
		var back Field
		if err := back.UnmarshalText(b); err != nil {
			t.Fatalf("%q %q: stored %q does not read back: %v", name, final, b, err)
		}
		var active Field
		for _, ft := range built {
			if ft.Name != "" {
				active = append(active, ft)
			}
		}
		if back.String() != active.String() || len(back) != len(active) {
			t.Fatalf("%q %q: stored %q reads back as %v", name, final, b, back)
		}
		for i := range back {
			if back[i] != active[i] {
				t.Fatalf("%q %q: feature %d reads back as %+v, want %+v", name, final, i, back[i], active[i])
			}
		}
	})
}
