package requiretls

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestOffered(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		tls   bool
		want  bool
	}{
		{"R16 post-TLS EHLO with keyword", []string{"mx.example Hello", "PIPELINING", "REQUIRETLS"}, true, true},
		{"R16 keyword before TLS does not count", []string{"mx.example Hello", "REQUIRETLS"}, false, false},
		{"R5 lower case keyword", []string{"mx.example", "requiretls"}, true, true},
		{"with reply codes", []string{"250-mx.example", "250-STARTTLS", "250 REQUIRETLS"}, true, true},
		{"E7 parameters ignored", []string{"250-mx.example", "250 REQUIRETLS whatever=1"}, true, true},
		{"absent", []string{"250-mx.example", "250-SIZE 1000", "250 8BITMIME"}, true, false},
		{"prefix is not the keyword", []string{"mx.example", "REQUIRETLSX"}, true, false},
		{"greeting line never counts", []string{"REQUIRETLS"}, true, false},
		{"E22 implicit TLS counts as TLS", []string{"250-mx.example", "250 REQUIRETLS"}, true, true},
		{"empty", nil, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Offered(tc.lines, tc.tls))
		})
	}
}
