package policy

// NextHopForm is a normalised next hop as the differential test compares
// it: the name, whether it is an IP address, and whether it is valid.
type NextHopForm struct {
	Name string
	IP   bool
	OK   bool
}

// PlainNextHop is plainNextHop, the fast path of Lookup.
func PlainNextHop(s string) NextHopForm {
	h, ok := plainNextHop(s)
	return NextHopForm{Name: string(h.name), IP: h.addr.IsValid(), OK: ok}
}

// ParseNextHop is parseNextHop, the general path of Lookup.
func ParseNextHop(s string) NextHopForm {
	var buf [maxName]byte
	h, ok := parseNextHop(s, &buf)
	return NextHopForm{Name: string(h.name), IP: h.addr.IsValid(), OK: ok}
}
