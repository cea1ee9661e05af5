package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-kit/log/level"

	"github.com/scp-exporter/scp_exporter/scp"
)

// The service's filter (Options.Filter, audit.filter). Its values are not
// documented and a wrong one matches nothing, so it is trusted only on
// evidence, and checked again while in use:
//
//   - Unverified: polls read unfiltered. When a window holds an event on a
//     watched image, the window is read again with the filter; the filter
//     is in use (active) if that read returned every such event.
//   - Active: polls read with the filter. Every FilterCheckEvery polls, the
//     window is read unfiltered first, then with the filter, and compared
//     as above (a window without an event on a watched image proves
//     nothing: inconclusive). Events the filter leaves out between two
//     checks are found by the sweep, as with the trail off, until a check
//     sees one.
//   - Mismatch: a check found an event the filtered read left out. The
//     filter is not used again until the configuration changes it; the
//     next poll reads unfiltered from the last check the filter passed
//     (within MaxWindow), so what it missed is read late rather than never.
//   - Refused: the service answered the filter, twice in a row, with a
//     client error while answering the same window without it.
//
// A reload that changes the filter or the service starts it unverified.

// DefaultFilterCheckEvery is how many polls with the filter in use go by
// between two checks: at most one unfiltered read in ten.
const DefaultFilterCheckEvery = 10

// refusalsToDrop is how many polls in a row must see the filter refused,
// the same window read without it, before it is dropped: one may be a
// passing error.
const refusalsToDrop = 2

// FilterState says whether the polls use the service's filter. Its values
// are metric label values.
type FilterState string

// The states of the filter (see above).
const (
	FilterOff        FilterState = "off"
	FilterUnverified FilterState = "unverified"
	FilterActive     FilterState = "active"
	FilterMismatch   FilterState = "mismatch"
	FilterRefused    FilterState = "refused"
)

// FilterStates lists every FilterState, so a metric can show each.
var FilterStates = []FilterState{FilterOff, FilterUnverified, FilterActive, FilterMismatch, FilterRefused}

// FilterResult is the outcome of one check of the filter. Its values are
// metric label values.
type FilterResult string

// Results of a check: the filtered read returned every event on a watched
// image (match) or not (mismatch); the window held none (inconclusive);
// the filtered read failed (error) or was refused (refused).
const (
	FilterMatch        FilterResult = "match"
	FilterMissed       FilterResult = "mismatch"
	FilterInconclusive FilterResult = "inconclusive"
	FilterError        FilterResult = "error"
	FilterRefusal      FilterResult = "refused"
)

// FilterResults lists every FilterResult, so a metric can show each.
var FilterResults = []FilterResult{FilterMatch, FilterMissed, FilterInconclusive, FilterError, FilterRefusal}

// filterState is the filter's state. Guarded by Poller.mu.
type filterState struct {
	state FilterState
	// gen changes with each reload that restarts the state: a poll that
	// began before does not write its verdict over it.
	gen uint64
	// sinceCheck counts the polls with the filter in use since the last
	// check; refusals the polls in a row that saw it refused; errors the
	// checks in a row whose filtered read failed.
	sinceCheck, refusals, errors int
	// passed is when the window of the last check the filter passed ended;
	// rewind, when set, is where the next poll's window starts instead.
	passed, rewind time.Time
	// checks counts the checks by result, across reloads (a counter).
	checks map[FilterResult]uint64
}

// newFilterState is the state of a filter taken into use: unverified, or
// off for none; checks carries the counts of the filters before it.
func newFilterState(f scp.AuditFilter, gen uint64, checks map[FilterResult]uint64) filterState {
	if checks == nil {
		checks = map[FilterResult]uint64{}
	}
	return filterState{state: initialFilterState(f), gen: gen, checks: checks}
}

func initialFilterState(f scp.AuditFilter) FilterState {
	if f.IsZero() {
		return FilterOff
	}
	return FilterUnverified
}

// read lists [start, end] as the filter's state says (see above).
func (p *Poller) read(ctx context.Context, o Options, start, end time.Time) (scp.AuditEvents, error) {
	p.mu.Lock()
	state, gen := p.f.state, p.f.gen
	check := state == FilterUnverified || state == FilterActive && p.f.sinceCheck >= o.FilterCheckEvery
	if state == FilterActive && !check {
		p.f.sinceCheck++
	}
	p.mu.Unlock()

	if state == FilterActive && !check {
		got, err := o.Lister.ListAuditEvents(ctx, start, end, o.Filter)
		if !errors.Is(err, scp.ErrAuditFilterRefused) {
			p.update(gen, func(f *filterState) {
				if err == nil {
					f.refusals = 0
				}
			})
			return got, err
		}
		all, uerr := o.Lister.ListAuditEvents(ctx, start, end, scp.AuditFilter{})
		if uerr == nil {
			p.refused(o, gen, err)
		}
		return all, uerr
	}

	all, err := o.Lister.ListAuditEvents(ctx, start, end, scp.AuditFilter{})
	if err != nil || !check {
		return all, err
	}
	want := map[string]bool{}
	for _, ev := range all.Events {
		if w, _ := namedImages(o.Watched, ev); len(w) > 0 {
			want[ev.ID] = true
		}
	}
	watched := len(want)
	if len(want) == 0 {
		p.checked(o, gen, FilterInconclusive, end, nil)
		return all, nil
	}
	got, ferr := o.Lister.ListAuditEvents(ctx, start, end, o.Filter)
	switch {
	case errors.Is(ferr, scp.ErrAuditFilterRefused):
		p.refused(o, gen, ferr)
		return all, nil
	case ferr != nil:
		// The unfiltered read stands; the comparison waits for a later
		// window.
		p.checked(o, gen, FilterError, end, ferr)
		return all, nil
	}
	read := make(map[string]bool, len(all.Events))
	for _, ev := range all.Events {
		read[ev.ID] = true
	}
	for _, ev := range got.Events {
		delete(want, ev.ID)
		if !read[ev.ID] { // logged between the two reads
			read[ev.ID] = true
			all.Events = append(all.Events, ev)
		}
	}
	all.Pages += got.Pages
	all.Splits += got.Splits
	if len(want) > 0 {
		p.checked(o, gen, FilterMissed, end, fmt.Errorf("the filtered read left out %d of the %d events on watched images", len(want), watched))
	} else {
		p.checked(o, gen, FilterMatch, end, nil)
	}
	return all, nil
}

// update changes the filter's state with fn, unless a reload restarted it
// since the poll began (gen).
func (p *Poller) update(gen uint64, fn func(*filterState)) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f.gen != gen {
		return false
	}
	fn(&p.f)
	return true
}

// checked records a check's result, changing the state as it says.
func (p *Poller) checked(o Options, gen uint64, result FilterResult, end time.Time, why error) {
	var from, to FilterState
	var errorsInARow int
	if !p.update(gen, func(f *filterState) {
		f.checks[result]++
		from = f.state
		switch result {
		case FilterMatch:
			f.state, f.passed = FilterActive, end
		case FilterMissed:
			f.state = FilterMismatch
			if !f.passed.IsZero() {
				f.rewind = f.passed
			}
		case FilterError:
			f.errors++
		}
		if result != FilterError {
			f.errors = 0
		}
		if f.state == FilterActive && result != FilterError {
			f.sinceCheck = 0 // an inconclusive or failed check comes again next poll
		}
		to, errorsInARow = f.state, f.errors
	}) {
		return
	}
	switch {
	case from != FilterActive && to == FilterActive:
		level.Info(o.Logger).Log("msg", "the audit service's filter returned every event on watched images; the trail is read with it",
			"filter", o.Filter.String(), "check_every_polls", o.FilterCheckEvery)
	case to == FilterMismatch && from == FilterActive:
		level.Warn(o.Logger).Log("msg", "the audit trail is read without the service's filter from now on, and read again from the last check the filter passed: "+why.Error(),
			"filter", o.Filter.String(), "state", to)
	case to == FilterMismatch:
		level.Warn(o.Logger).Log("msg", "the audit trail is read without the service's filter: "+why.Error(),
			"filter", o.Filter.String(), "state", to)
	case result == FilterError:
		logger := level.Debug(o.Logger)
		if errorsInARow == 3 {
			logger = level.Warn(o.Logger)
		}
		logger.Log("msg", "reading the audit trail with the service's filter, to compare, failed; the unfiltered read stands", "failures_in_a_row", errorsInARow, "err", why)
	}
}

// refused records the service refusing the filter while it answered the
// same window without it; the second time in a row, the filter is dropped.
func (p *Poller) refused(o Options, gen uint64, err error) {
	var dropped bool
	p.update(gen, func(f *filterState) {
		f.checks[FilterRefusal]++
		f.refusals++
		if f.refusals >= refusalsToDrop {
			f.state, dropped = FilterRefused, true
		}
	})
	if dropped {
		level.Warn(o.Logger).Log("msg", "the audit service refuses the filter, and answers without it: the trail is read without it from now on",
			"filter", o.Filter.String(), "state", FilterRefused, "err", err)
		return
	}
	level.Debug(o.Logger).Log("msg", "the audit service refused the filter once; this window is read without it", "filter", o.Filter.String(), "err", err)
}
