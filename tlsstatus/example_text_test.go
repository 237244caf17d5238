package tlsstatus_test

import (
	"encoding/json"
	"fmt"

	"github.com/requiretls/go-requiretls/tlsstatus"
)

// A log store keeps the tls= field in Postfix's form, which reads back as
// the same Field.
func ExampleField_MarshalText() {
	type record struct {
		QueueID string          `json:"queue_id"`
		TLS     tlsstatus.Field `json:"tls"`
	}
	fl, err := tlsstatus.ParseField("verify/requiretls:none")
	if err != nil {
		fmt.Println(err)
		return
	}
	b, err := json.Marshal(record{QueueID: "4QXk2T", TLS: fl})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(b))

	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		fmt.Println(err)
		return
	}
	rt, _ := r.TLS.Lookup(tlsstatus.RequireTLS)
	fmt.Println(rt.Final)
	// Output:
	// {"queue_id":"4QXk2T","tls":"verify/requiretls:none"}
	// none
}
