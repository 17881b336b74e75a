package testkit

import "github.com/twmb/franz-go/pkg/kgo"

// Header returns the value of a record's first header named key (exact
// case), or "" when it has none.
func Header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
