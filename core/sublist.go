package core

import "sync"

// A subList is the subscribers of one topic. Joining and leaving cost O(1)
// (append, and swap-remove through the index each subscriber keeps), so a
// storm of connects costs no more per connect than one; publishers iterate
// under the read lock.
type subList struct {
	mu   sync.RWMutex
	list []*Subscriber
}

// A membership is a subscriber's place in one subList; i is guarded by l.mu.
type membership struct {
	l *subList
	i int
}

func (l *subList) add(s *Subscriber, m *membership) {
	l.mu.Lock()
	m.l, m.i = l, len(l.list)
	l.list = append(l.list, s)
	l.mu.Unlock()
}

func (l *subList) remove(m *membership) {
	l.mu.Lock()
	defer l.mu.Unlock()
	last := len(l.list) - 1
	moved := l.list[last]
	l.list[m.i] = moved
	for j := range moved.member {
		if moved.member[j].l == l {
			moved.member[j].i = m.i
			break
		}
	}
	l.list[last] = nil
	l.list = l.list[:last]
	if cap(l.list) > 64 && cap(l.list) > 4*len(l.list) { // give a drained storm's memory back
		l.list = append([]*Subscriber(nil), l.list...)
	}
}

func (l *subList) len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.list)
}

// notifyAll wakes the list's parked streams. A busy stream costs one atomic
// load: it looks for new events before it parks again.
func (l *subList) notifyAll() {
	l.mu.RLock()
	for _, s := range l.list {
		if s.claim() {
			s.wakeNow()
		}
	}
	l.mu.RUnlock()
}
