package vccgen

// heapItem is implemented by the element types of the binary min-heaps
// below: before reports whether the receiver sorts before o.
type heapItem[T any] interface {
	*T
	before(o *T) bool
}

// heapPush adds x to the min-heap h.
func heapPush[T any, P heapItem[T]](h *[]T, x T) {
	*h = append(*h, x)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !P(&s[i]).before(&s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

// heapPop removes and returns the least element of the non-empty min-heap h.
func heapPop[T any, P heapItem[T]](h *[]T) T {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	var zero T
	s[last] = zero // drop references held by the vacated slot
	s = s[:last]
	for i := 0; ; {
		m := 2*i + 1
		if m >= last {
			break
		}
		if r := m + 1; r < last && P(&s[r]).before(&s[m]) {
			m = r
		}
		if !P(&s[m]).before(&s[i]) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}
