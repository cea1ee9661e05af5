package engine

import (
	"cmp"
	"container/list"
	"slices"
)

// imageState is one watched image: its place in the queue, and what its
// calls told.
type imageState struct {
	id   string
	elem *list.Element // its place in queue.order
	// taken is queue.takes when the image was last taken (or its call
	// adopted by a pass); 0 if never.
	taken    uint64
	prio     bool // in queue.prio
	inflight bool // a members call for it is under way
	knowledge
}

// queue is the one order of work of both modes: the images Prioritize
// named, in order; then every watched image, stalest first: those never
// tried, in watch order, then by their last attempt, oldest first. Taking
// an image moves it to the back, so the order holds without sorting.
type queue struct {
	order list.List     // of *imageState, stalest first
	prio  []*imageState // Prioritize()d, in order, each once
	takes uint64        // images taken so far: the queue's clock
}

// rebuild orders the watched images anew (the watch list changed): never
// tried first, in watch order, then by their last take. Images no longer
// watched must have been removed.
func (q *queue) rebuild(watched []Image, images map[string]*imageState) {
	sts := make([]*imageState, len(watched))
	for i, im := range watched {
		sts[i] = images[im.ID]
		sts[i].elem = nil
	}
	slices.SortStableFunc(sts, func(a, b *imageState) int { return cmp.Compare(a.taken, b.taken) })
	q.order.Init()
	for _, st := range sts {
		if st.elem == nil { // once, should the watch list name it twice
			st.elem = q.order.PushBack(st)
		}
	}
}

// head is the stalest image whose call is not under way, or nil.
func (q *queue) head() *imageState {
	for el := q.order.Front(); el != nil; el = el.Next() {
		if st := el.Value.(*imageState); !st.inflight {
			return st
		}
	}
	return nil
}

// prioritized is the first image Prioritize named whose call is not under
// way, or nil. One under way waits for its call to end: it was named
// after the call was sent, so it is fetched again.
func (q *queue) prioritized() *imageState {
	for _, st := range q.prio {
		if !st.inflight {
			return st
		}
	}
	return nil
}

// prioritize puts st among the prioritized, after those already there.
func (q *queue) prioritize(st *imageState) {
	if !st.prio {
		st.prio = true
		q.prio = append(q.prio, st)
	}
}

// take marks st tried now: it goes to the back, and out of the
// prioritized.
func (q *queue) take(st *imageState) {
	q.touch(st)
	q.unprioritize(st)
}

// adopt counts st's call under way as taken now, by a pass that waits for
// it instead of making another. A prioritized image stays so: its call may
// have been sent before the change Prioritize was told of.
func (q *queue) adopt(st *imageState) { q.touch(st) }

func (q *queue) touch(st *imageState) {
	q.takes++
	st.taken = q.takes
	q.order.MoveToBack(st.elem)
}

// remove drops an image no longer watched.
func (q *queue) remove(st *imageState) {
	q.order.Remove(st.elem)
	q.unprioritize(st)
}

func (q *queue) unprioritize(st *imageState) {
	if st.prio {
		st.prio = false
		q.prio = slices.DeleteFunc(q.prio, func(o *imageState) bool { return o == st })
	}
}
