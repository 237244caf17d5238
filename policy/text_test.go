package policy_test

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy"
)

var (
	_ encoding.TextMarshaler   = policy.Tag(0)
	_ encoding.TextUnmarshaler = (*policy.Tag)(nil)
	_ encoding.TextMarshaler   = policy.Level(0)
	_ encoding.TextUnmarshaler = (*policy.Level)(nil)
)

var tagNames = []struct {
	tag  policy.Tag
	text string
}{
	{policy.Default, "default"},
	{policy.Required, "required"},
	{policy.NotRequired, "not-required"},
}

// TestTagText: every Tag is stored by its name and reads back as itself, and
// ParseTag, UnmarshalText and String agree.
func TestTagText(t *testing.T) {
	for _, tc := range tagNames {
		t.Run(tc.text, func(t *testing.T) {
			b, err := tc.tag.MarshalText()
			assert.NoError(t, err)
			assert.Equal(t, tc.text, string(b))
			assert.Equal(t, tc.text, tc.tag.String())
			got, err := policy.ParseTag(tc.text)
			assert.NoError(t, err)
			assert.Equal(t, tc.tag, got)
			var u policy.Tag
			assert.NoError(t, u.UnmarshalText(b))
			assert.Equal(t, tc.tag, u)
		})
	}
	assert.Len(t, tagNames, int(policy.NotRequired)+1, "every Tag is in the table")
}

// TestParseTagCase: ASCII case is ignored, as for ParseLevel; the canonical
// text is lower case.
func TestParseTagCase(t *testing.T) {
	for _, s := range []string{"REQUIRED", "Required", "Not-Required", "DEFAULT"} {
		tag, err := policy.ParseTag(s)
		assert.NoError(t, err, s)
		b, err := tag.MarshalText()
		assert.NoError(t, err, s)
		assert.Equal(t, strings.ToLower(s), string(b), s)
	}
}

// TestParseTagUnknown: unknown text is an error wrapping ErrUnknownTag, and
// the value returned (and left by UnmarshalText) is Required, the strictest
// tag, which Evaluate also gives an unknown Tag (fail closed).
func TestParseTagUnknown(t *testing.T) {
	for _, s := range []string{
		"",                // empty
		" required",       // surrounding space is not trimmed
		"required\n",      // nor a newline
		"notrequired",     // not the canonical spelling
		"not_required",    // nor this
		"no",              // the header's value, not a tag name
		"yes",             // nor this
		"tag(3)",          // String's form for an out-of-range value
		"1",               // a number, as stored before MarshalText
		"requıred",        // dotless i: not ASCII
		"not-requiſed",    // long s folds to "s" in Unicode, not in ASCII
		"required\x00",    // trailing NUL
		"defaultrequired", // two names run together
	} {
		t.Run(fmt.Sprintf("%q", s), func(t *testing.T) {
			tag, err := policy.ParseTag(s)
			assert.ErrorIs(t, err, policy.ErrUnknownTag)
			assert.Equal(t, policy.Required, tag)
			u := policy.Default
			assert.ErrorIs(t, u.UnmarshalText([]byte(s)), policy.ErrUnknownTag)
			assert.Equal(t, policy.Required, u)
			var pe *policy.ParseError
			assert.ErrorAs(t, err, &pe)
		})
	}
}

// TestTagMarshalTextOutOfRange: a Tag out of range is not written at all,
// not even as "tag(N)", so a queue never stores a name that reads back as
// another (laxer) tag.
func TestTagMarshalTextOutOfRange(t *testing.T) {
	for _, tag := range []policy.Tag{policy.NotRequired + 1, 200, 255} {
		b, err := tag.MarshalText()
		assert.ErrorIs(t, err, policy.ErrUnknownTag, "%d", uint8(tag))
		assert.Nil(t, b)
		_, err = json.Marshal(struct{ Tag policy.Tag }{tag})
		assert.ErrorIs(t, err, policy.ErrUnknownTag, "%d", uint8(tag))
	}
}

var levelNames = []struct {
	level policy.Level
	text  string
}{
	{policy.Enforce, "enforce"},
	{policy.OpportunisticSTARTTLS, "opportunistic+starttls"},
	{policy.Opportunistic, "opportunistic"},
	{policy.Disable, "disable"},
	{policy.Monitor, "monitor"},
	{policy.ConfigError, "error"},
}

// TestLevelText: every Level is stored by its Postfix atom and reads back
// as itself.
func TestLevelText(t *testing.T) {
	for _, tc := range levelNames {
		t.Run(tc.text, func(t *testing.T) {
			b, err := tc.level.MarshalText()
			assert.NoError(t, err)
			assert.Equal(t, tc.text, string(b))
			assert.Equal(t, tc.text, tc.level.String())
			var u policy.Level
			assert.NoError(t, u.UnmarshalText([]byte(tc.text)))
			assert.Equal(t, tc.level, u)
		})
	}
	assert.Len(t, levelNames, int(policy.ConfigError)+1, "every Level is in the table")
}

// TestLevelMarshalTextOutOfRange: String writes "error" for a Level out of
// range, but MarshalText refuses it, so a stored level is always one that
// was meant.
func TestLevelMarshalTextOutOfRange(t *testing.T) {
	for _, l := range []policy.Level{policy.ConfigError + 1, 100, 255} {
		b, err := l.MarshalText()
		assert.ErrorIs(t, err, policy.ErrUnknownLevel, "%d", uint8(l))
		assert.Nil(t, b)
		_, err = json.Marshal(struct{ Level policy.Level }{l})
		assert.ErrorIs(t, err, policy.ErrUnknownLevel, "field %d", uint8(l))
		// encoding/json does not wrap a map key's error, only quotes it.
		_, err = json.Marshal(map[policy.Level]int{l: 1})
		assert.ErrorContains(t, err, "unknown policy action", "map key %d", uint8(l))
	}
}

// TestLevelUnmarshalTextUnknown: unknown text is an error wrapping
// ErrUnknownLevel and leaves ConfigError, the level that never delivers.
func TestLevelUnmarshalTextUnknown(t *testing.T) {
	for _, s := range []string{"", "enforce ", "opportunistic+", "0", "level(9)", "diſable"} {
		l := policy.Disable
		err := l.UnmarshalText([]byte(s))
		assert.ErrorIs(t, err, policy.ErrUnknownLevel, "%q", s)
		assert.Equal(t, policy.ConfigError, l, "%q", s)
	}
}

// TestParseLevelASCIICaseOnly is a regression test: ParseLevel folded case
// with Unicode rules, so "diſable" (LATIN SMALL LETTER LONG S, which folds
// to "s") parsed as Disable, in a policy string and in a table result,
// where Postfix's strcasecmp finds no atom and defers the message with
// 4.7.10. Two parsers disagreed, and ours was the laxer.
func TestParseLevelASCIICaseOnly(t *testing.T) {
	for _, s := range []string{"diſable", "opportunistic+ſtarttls", "opportuniſtic", "DIſABLE"} {
		l, err := policy.ParseLevel(s)
		assert.ErrorIs(t, err, policy.ErrUnknownLevel, "%q", s)
		assert.Equal(t, policy.ConfigError, l, "%q", s)
		for _, text := range []string{s, "inline:{example.com=" + s + "}", "static:" + s} {
			p, err := policy.Parse(text, nil)
			require.NoError(t, err, text)
			assert.Equal(t, policy.ConfigError, p.Lookup("example.com"), text)
		}
	}
	l, err := policy.ParseLevel("DiSaBlE")
	assert.NoError(t, err, "ASCII case is still ignored, as by strcasecmp")
	assert.Equal(t, policy.Disable, l)
}

// queued is a message as a queue would store it.
type queued struct {
	ID    string
	Tag   policy.Tag
	Level policy.Level `json:"level,omitempty"`
}

// TestTextJSON: Tag and Level round-trip through encoding/json by name, as
// struct fields and as map keys.
func TestTextJSON(t *testing.T) {
	in := []queued{
		{ID: "a", Tag: policy.Required, Level: policy.OpportunisticSTARTTLS},
		{ID: "b", Tag: policy.NotRequired, Level: policy.Disable},
		{ID: "c"},
	}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	assert.Equal(t, `[{"ID":"a","Tag":"required","level":"opportunistic+starttls"},`+
		`{"ID":"b","Tag":"not-required","level":"disable"},`+
		`{"ID":"c","Tag":"default"}]`, string(b), "omitempty drops the zero Level, Enforce")
	var out []queued
	require.NoError(t, json.Unmarshal(b, &out))
	assert.Equal(t, in, out)

	m := map[policy.Level][]policy.Tag{}
	for _, tc := range levelNames {
		for _, tg := range tagNames {
			m[tc.level] = append(m[tc.level], tg.tag)
		}
	}
	b, err = json.Marshal(m)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"opportunistic+starttls":["default","required","not-required"]`)
	var back map[policy.Level][]policy.Tag
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, m, back)

	tags := map[policy.Tag]int{policy.Required: 2, policy.NotRequired: 1}
	b, err = json.Marshal(tags)
	require.NoError(t, err)
	assert.Equal(t, `{"not-required":1,"required":2}`, string(b))
	var tagsBack map[policy.Tag]int
	require.NoError(t, json.Unmarshal(b, &tagsBack))
	assert.Equal(t, tags, tagsBack)
}

// TestTextJSONRefused: JSON that does not hold a known name is refused, with
// the sentinel reachable through errors.Is: a number (the form before
// MarshalText existed), unknown names, and unknown map keys.
func TestTextJSONRefused(t *testing.T) {
	for _, tc := range []struct {
		json string
		want error // nil: any *json.UnmarshalTypeError
	}{
		{`{"Tag":1}`, nil},
		{`{"Tag":true}`, nil},
		{`{"level":3}`, nil},
		{`{"Tag":"optional"}`, policy.ErrUnknownTag},
		{`{"Tag":""}`, policy.ErrUnknownTag},
		{`{"Tag":"tag(7)"}`, policy.ErrUnknownTag},
		{`{"level":"lax"}`, policy.ErrUnknownLevel},
		{`{"level":"Disable "}`, policy.ErrUnknownLevel},
	} {
		var q queued
		err := json.Unmarshal([]byte(tc.json), &q)
		if tc.want == nil {
			var te *json.UnmarshalTypeError
			assert.ErrorAs(t, err, &te, tc.json)
		} else {
			assert.ErrorIs(t, err, tc.want, tc.json)
		}
	}
	var m map[policy.Level]bool
	assert.ErrorIs(t, json.Unmarshal([]byte(`{"enforce":true,"strict":true}`), &m), policy.ErrUnknownLevel)
	var tm map[policy.Tag]bool
	assert.Error(t, json.Unmarshal([]byte(`{"0":true}`), &tm), "an integer key is not a tag")
}

// FuzzParseTag checks that ParseTag and UnmarshalText agree, that an error
// wraps ErrUnknownTag and gives Required, and that a parsed tag marshals
// to its lower-case name, which parses back to the same tag.
func FuzzParseTag(f *testing.F) {
	for _, tc := range tagNames {
		f.Add(tc.text)
	}
	for _, s := range []string{"REQUIRED", "Not-Required", "", "no", "tag(3)", "1", "not-requiſed"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tag, err := policy.ParseTag(s)
		var u policy.Tag
		uerr := u.UnmarshalText([]byte(s))
		if u != tag || (err == nil) != (uerr == nil) {
			t.Fatalf("%q: ParseTag gives %v, %v; UnmarshalText %v, %v", s, tag, err, u, uerr)
		}
		if err != nil {
			if !errors.Is(err, policy.ErrUnknownTag) || tag != policy.Required {
				t.Fatalf("%q: %v, %v", s, tag, err)
			}
			return
		}
		b, err := tag.MarshalText()
		if err != nil || string(b) != tag.String() {
			t.Fatalf("%q: MarshalText gives %q, %v", s, b, err)
		}
		if again, err := policy.ParseTag(string(b)); err != nil || again != tag {
			t.Fatalf("round trip %q -> %v -> %v, %v", s, tag, again, err)
		}
	})
}

// FuzzLevelUnmarshalText checks that UnmarshalText agrees with ParseLevel
// and that an unmarshalled level marshals to text that reads back the same.
func FuzzLevelUnmarshalText(f *testing.F) {
	for _, tc := range levelNames {
		f.Add(tc.text)
	}
	for _, s := range []string{"OPPORTUNISTIC+starttls", "diſable", "", "nonsense"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := policy.ParseLevel(s)
		var u policy.Level
		uerr := u.UnmarshalText([]byte(s))
		if u != l || (err == nil) != (uerr == nil) {
			t.Fatalf("%q: ParseLevel gives %v, %v; UnmarshalText %v, %v", s, l, err, u, uerr)
		}
		if err != nil {
			return
		}
		b, err := l.MarshalText()
		if err != nil {
			t.Fatalf("%q: MarshalText: %v", s, err)
		}
		var again policy.Level
		if err := again.UnmarshalText(b); err != nil || again != l {
			t.Fatalf("round trip %q -> %v -> %v, %v", s, l, again, err)
		}
	})
}

// A queue stores a message's Tag by name, so that the file reads well and
// a later version that adds a tag cannot misread it.
func ExampleTag_MarshalText() {
	type entry struct {
		ID  string     `json:"id"`
		Tag policy.Tag `json:"tag"`
	}
	b, err := json.Marshal(entry{ID: "4QXk2T", Tag: policy.Signals{RequireTLS: true}.Tag()})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(b))

	var e entry
	err = json.Unmarshal([]byte(`{"id":"4QXk2T","tag":"optional"}`), &e)
	fmt.Println(err, errors.Is(err, policy.ErrUnknownTag))
	// Output:
	// {"id":"4QXk2T","tag":"required"}
	// policy: unknown tag "optional" at offset 0 in "optional" true
}

// A map keyed by Level, such as a count of queued messages per level,
// is stored with the Postfix atoms as keys.
func ExampleLevel_MarshalText() {
	counts := map[policy.Level]int{policy.Enforce: 3, policy.OpportunisticSTARTTLS: 1}
	b, err := json.Marshal(counts)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(b))
	// Output:
	// {"enforce":3,"opportunistic+starttls":1}
}
