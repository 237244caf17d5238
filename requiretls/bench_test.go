package requiretls

import (
	"strings"
	"testing"
)

var benchLines = []string{
	"MAIL FROM:<roger@example.org> REQUIRETLS",
	"MAIL FROM:<bounce-1234@lists.example.org> SIZE=48213 BODY=8BITMIME RET=HDRS ENVID=QQ314159 REQUIRETLS",
	"MAIL FROM:<>",
}

// naiveRequireTLS is the obvious alternative: split on spaces, cut at "=",
// and look for the keyword, with no validation at all.
func naiveRequireTLS(line string) (from string, requireTLS bool) {
	fields := strings.Fields(line)
	if len(fields) < 2 {
		return "", false
	}
	_, from, _ = strings.Cut(fields[1], ":")
	from = strings.Trim(from, "<>")
	for _, f := range fields[2:] {
		k, _, _ := strings.Cut(f, "=")
		if strings.EqualFold(k, Keyword) {
			requireTLS = true
		}
	}
	return from, requireTLS
}

// BenchmarkParseMail compares the strict parser with naive splitting of
// the same lines, in the same run.
func BenchmarkParseMail(b *testing.B) {
	b.Run("ParseMail", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			m, err := ParseMail(benchLines[i%len(benchLines)])
			if err != nil || m == nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("FieldsCut", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			naiveRequireTLS(benchLines[i%len(benchLines)])
		}
	})
}
