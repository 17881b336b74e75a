// Package state holds the per-partition state of the interruption matcher:
// one Channel per channelId, the partition's stream time, and the bookkeeping
// that makes every change explicit (for the changelog) and reversible (for an
// aborted transaction).
//
// The store knows nothing about Kafka, clocks or matching rules. The engine in
// package processor decides what changes; the store records it.
package state

import (
	"slices"
)

// Party is the party on a channel, as VCC describes it in data.channel.party.
type Party struct {
	Role    string
	AgentID string
	UserID  string
}

// Ref identifies one source event: its CloudEvent source and id, its type,
// and its event time (data.timestamp) in Unix nanoseconds.
type Ref struct {
	Source string
	ID     string
	Type   string
	At     int64
}

// Channel is everything the matcher remembers about one channel.
//
// Open and Held are kept sorted by At (ties in arrival order). Seen holds a
// 64-bit hash of every handled event's (source, id) so that late duplicates
// are recognised for as long as the channel's state lives.
type Channel struct {
	ConversationID string
	InteractionID  string
	Party          Party

	// LastEventAt is the largest data.timestamp of the channel's handled
	// events, in Unix nanoseconds: the channel "went quiet" then.
	LastEventAt int64

	// Seen is the set of hashes of handled (source, id) pairs, unordered.
	Seen []uint64
	// Open are interruptions not yet closed, sorted by At.
	Open []Ref
	// Held are closing events that arrived before their interruption,
	// sorted by At.
	Held []Ref

	// deadline is the next stream time at which the channel needs
	// attention; scheduled says a heap entry for it is pending. Both are
	// derived state: not encoded, recomputed on restore.
	deadline  int64
	scheduled bool
}

// Clone returns a deep copy of c.
func (c *Channel) Clone() *Channel {
	if c == nil {
		return nil
	}
	n := *c
	n.Seen = slices.Clone(c.Seen)
	n.Open = slices.Clone(c.Open)
	n.Held = slices.Clone(c.Held)
	return &n
}

// HasSeen reports whether the event hash h was already handled.
func (c *Channel) HasSeen(h uint64) bool {
	return slices.Contains(c.Seen, h)
}

// InsertOpen adds r to Open, keeping it sorted by At; equal times keep
// arrival order.
func (c *Channel) InsertOpen(r Ref) { c.Open = insertSorted(c.Open, r) }

// InsertHeld adds r to Held, keeping it sorted by At; equal times keep
// arrival order.
func (c *Channel) InsertHeld(r Ref) { c.Held = insertSorted(c.Held, r) }

func insertSorted(list []Ref, r Ref) []Ref {
	i, _ := slices.BinarySearchFunc(list, r.At, func(e Ref, at int64) int {
		if e.At <= at {
			return -1
		}
		return 1
	})
	return slices.Insert(list, i, r)
}

// Deadline returns the derived next-attention time set by SetDeadline.
func (c *Channel) Deadline() int64 { return c.deadline }
