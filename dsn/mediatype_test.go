package dsn

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
)

// FuzzContentType: a Content-Type field reads the same from the cache of
// recurring fields as parsed afresh (and checked against go-message), and
// the cache stays within its bound.
func FuzzContentType(f *testing.F) {
	for _, s := range []string{
		"Content-Type: message/rfc822\r\n",
		"Content-Type: message/rfc822 (returned message)\n",
		"Content-Type: Message/RFC822; name=\"a (b); c\"\n",
		"Content-Type: multipart/report; Report-Type=\"delivery-status\";\n\tBOUNDARY=\"b\"\n",
		"Content-Type: multipart/report; boundary*0=a; boundary*1=b\n",
		"Content-Type: text/plain; charset=\"=?us-ascii?q?b?=\"\n",
		"Content-Type: text/plain;\n",
		"Content-Type:\n text/plain\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, field []byte) {
		want := readContentType(field)
		for range 2 {
			if got := contentType(field); !reflect.DeepEqual(got, want) {
				t.Fatalf("%q: %+v from the cache, %+v parsed", field, got, want)
			}
		}
		mediaTypes.RLock()
		n := len(mediaTypes.m)
		mediaTypes.RUnlock()
		if n > maxMediaTypes {
			t.Fatalf("%d cached fields", n)
		}
	})
}

// TestContentTypeCacheBounded: distinct fields never grow the cache past
// its bound, and fields with a boundary, unique to each multipart, are not
// cached at all.
func TestContentTypeCacheBounded(t *testing.T) {
	for i := range 3 * maxMediaTypes {
		contentType(fmt.Appendf(nil, "Content-Type: text/x-%d\r\n", i))
		mediaTypes.RLock()
		n := len(mediaTypes.m)
		mediaTypes.RUnlock()
		assert.LessOrEqual(t, n, maxMediaTypes)
	}
	field := []byte("Content-Type: multipart/mixed; boundary=unique-1\r\n")
	assert.Equal(t, "multipart/mixed", contentType(field).media)
	mediaTypes.RLock()
	_, cached := mediaTypes.m[string(field)]
	mediaTypes.RUnlock()
	assert.False(t, cached)
}
