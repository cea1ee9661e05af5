//go:build loadtest

package loadtest

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// auditUser is the user_id of the audit events the scenario logs.
const auditUser = "loadtest-user"

// auditScenario follows the audit trail (issue 16) in the background mode,
// scraped as Prometheus would, as scenario does. In four phases:
//
//  0. first fetch: while the first pass is under way (the trail read once,
//     fewer than half the images known), an image the fake has not served
//     yet is shared with an unexpected account, logged in the audit trail
//     as auditUser at the same moment (issue 21). The trail must bring the
//     image's first fetch forward: exported with expected="false" within
//     target of the event, and the user named in that same scrape, though
//     no earlier fetch saw the image without the share.
//  1. trail: once the first pass is done, a share with an unexpected
//     account is added to an image just after the fake served its members
//     (the sweep comes back to it only a pass later), logged in the audit
//     trail as auditUser at the same moment. It must be exported with
//     expected="false", and the user in scp_image_change_info, within
//     target of the event. Then the next, trailShares in all, one after
//     the other: each added at a scrape, while the polls keep their own
//     cadence, so the event falls at a different point of the poll
//     interval each time.
//  2. failing: /v1/logs answers 500 from then on; once a scrape shows the
//     failure, another share is added the same way, with its event. The
//     sweep must still find it, within slack × images ÷ rate + 2 scrape
//     intervals; scp_audit_last_success_timestamp_seconds must stand
//     still and scp_api_request_errors_total{operation="list_audit_logs",
//     reason="server_error"} grow.
//  3. recovered: /v1/logs answers again; the next poll reads the gap, so
//     the last success advances and the second share's user is named.
type auditScenario struct {
	images  int
	latency time.Duration
	rate    float64       // the exporter's requests_per_second
	refresh time.Duration // members.refresh_interval
	poll    time.Duration // audit.poll_interval
	// interval is the scrape interval, timeout the scrape timeout header.
	interval, timeout time.Duration
	// target bounds phase 1 (and phase 3): event to the first scrape
	// showing it.
	target time.Duration
	slack  float64
	// trailShares is how many shares phase 1 adds, one after the other.
	trailShares int
}

// sweepBound is how long the sweep alone may take to find a share added
// just after its image was fetched.
func (s auditScenario) sweepBound() time.Duration {
	return time.Duration(s.slack*float64(budgetPass(s.images, s.rate))) + 2*s.interval
}

// auditObservation is what one scrape showed.
type auditObservation struct {
	pacedScrape
	known int     // images whose last fetch succeeded
	pass  float64 // scp_image_members_pass_duration_seconds (-1 when absent)
	// shared: images showing memberNew with expected="false"; changed:
	// images whose scp_image_change_info names auditUser (event_name).
	shared, changed map[string]string
	lastSuccess     float64 // scp_audit_last_success_timestamp_seconds (-1 when absent)
	pollFailures    float64 // scp_audit_poll_failures_total
	serverErrors    float64 // scp_api_request_errors_total{operation="list_audit_logs",reason="server_error"}
	auditCalls      int     // the fake's list_audit_logs calls so far
	memberCalls     int
}

// observeAudit reads what the scenario follows from a scrape, and the
// fake's counts just after it.
func observeAudit(t *testing.T, fakeURL string, sc pacedScrape) auditObservation {
	t.Helper()
	ob := auditObservation{pacedScrape: sc, pass: -1, lastSuccess: -1, shared: map[string]string{}, changed: map[string]string{}}
	st := apiStats(t, fakeURL)
	ob.auditCalls, ob.memberCalls = st.Calls["list_audit_logs"], st.Calls["list_image_members"]
	if sc.err != nil {
		return ob
	}
	pg := sc.page
	ob.known = pg.known()
	for _, m := range pg.series("scp_image_member_info", map[string]string{"member_id": memberNew, "expected": "false"}) {
		ob.shared[string(m.Metric["image_id"])] = string(m.Metric["status"])
	}
	for _, c := range pg.series("scp_image_change_info", map[string]string{"user_id": auditUser}) {
		ob.changed[string(c.Metric["image_id"])] = string(c.Metric["event_name"])
	}
	ob.pass = pg.value("scp_image_members_pass_duration_seconds", nil, -1)
	ob.lastSuccess = pg.value("scp_audit_last_success_timestamp_seconds", nil, -1)
	ob.pollFailures = pg.value("scp_audit_poll_failures_total", nil, 0)
	ob.serverErrors = pg.value("scp_api_request_errors_total", map[string]string{"operation": "list_audit_logs", "reason": "server_error"}, 0)
	return ob
}

// auditShare is one share the scenario added, and when it showed.
type auditShare struct {
	image   string
	added   time.Duration // since the exporter's start; 0 until added
	fetched time.Duration // since added: the fake's next members answer for the image; 0 if never
	polled  time.Duration // since added: the fake's first good /v1/logs answer whose window holds the event; 0 if never
	seen    time.Duration // since added: the first scrape showing expected="false"; 0 if never
	named   time.Duration // since added: the first scrape naming auditUser; 0 if never
	event   string        // event_name exported
}

// track reads the share's state from the fake and the scrape.
func (sh *auditShare) track(t *testing.T, exp *exporter, fakeURL string, ob auditObservation) {
	t.Helper()
	if sh.added == 0 || sh.fetched == 0 || sh.polled == 0 {
		if sa := shareState(t, fakeURL); sa.Image != "" {
			sh.image = sa.Image
			sh.added = time.Unix(0, sa.At).Sub(exp.started)
			if sa.Fetched != 0 {
				sh.fetched = time.Duration(sa.Fetched - sa.At)
			}
			if sa.Polled != 0 {
				sh.polled = time.Duration(sa.Polled - sa.At)
			}
		}
	}
	if sh.added == 0 {
		return
	}
	if _, ok := ob.shared[sh.image]; ok && sh.seen == 0 {
		sh.seen = ob.end - sh.added
	}
	if name, ok := ob.changed[sh.image]; ok && sh.named == 0 {
		sh.named, sh.event = ob.end-sh.added, name
	}
}

func TestAuditTrail(t *testing.T) {
	bin := buildExporter(t)
	s := auditScenario{
		images:  1000,
		latency: 100 * time.Millisecond,
		rate:    10,
		// Shorter than images ÷ rate (100 s): every pass runs at the
		// budget (the engine is "behind"), the sweep's fastest.
		refresh:     time.Minute,
		poll:        5 * time.Second,
		interval:    5 * time.Second,
		timeout:     4 * time.Second,
		target:      15 * time.Second,
		slack:       1.2,
		trailShares: 4,
	}
	fakeURL := startFake(t, fakeSpec{Images: s.images, Latency: s.latency})
	cfg := exporterConfig{images: s.images, requestsPerSecond: s.rate, refreshInterval: s.refresh, auditPollInterval: s.poll}
	exp := startExporter(t, bin, fakeURL, cfg)
	physical, sweep := budgetPass(s.images, s.rate), s.sweepBound()
	t.Logf("%d images, latency %s, exporter %s, audit.poll_interval %s; scrapes every %s (timeout %s); target %s with the trail, %s (%.1f × %s + 2 × %s) without",
		s.images, s.latency, cfg.withoutImages(), s.poll, s.interval, s.timeout, s.target, fmtDur(sweep), s.slack, fmtDur(physical), s.interval)

	const (
		early = iota // phase 0: the share on an image not fetched yet
		warmup
		trail
		failing // the fault is set, not yet seen
		failed  // seen; the second share armed
		recovered
		done
	)
	phase := early
	var (
		first                   auditShare // phase 0's
		firstArmed              bool
		knownAtFirst            int
		trailed                 []auditShare // phase 1's, the last one under way
		second                  auditShare
		passes                  []float64
		faultAt, failSeen       time.Duration // since start
		errBase, errFailed      float64
		failuresBase            float64
		frozen                  float64 // last success while failing
		moved                   int     // scrapes while failing whose last success differed from frozen
		namedWhileFailing       bool
		recoverAt, successBack  time.Duration
		failures                float64
		callsBefore, callsAfter int // list_audit_logs calls at the fault and at the recovery
		last                    auditObservation
	)
	deadline := 3*physical + 5*time.Minute
	scrapes := pacedScrapes(t, exp, s.interval, s.timeout, func(sc pacedScrape) bool {
		ob := observeAudit(t, fakeURL, sc)
		last = ob
		if ob.pass > 0 && (len(passes) == 0 || passes[len(passes)-1] != ob.pass) {
			passes = append(passes, ob.pass)
		}
		now := time.Since(exp.started)
		var note string
		switch phase {
		case early:
			if !firstArmed {
				if ob.lastSuccess <= 0 {
					break
				}
				if ob.known >= s.images/2 || ob.pass > 0 {
					t.Fatalf("the trail was first read after %d of %d images were known: too late for phase 0", ob.known, s.images)
				}
				shareUnfetched(t, fakeURL, memberNew, auditUser)
				firstArmed, knownAtFirst = true, ob.known
				note = fmt.Sprintf("; %d images known: an image not fetched yet shared, with its event", ob.known)
				break
			}
			first.track(t, exp, fakeURL, ob)
			note = shareProgress("the first-fetch share", first)
			if first.added != 0 && (first.seen != 0 && first.named != 0 || now-first.added > sweep) {
				phase = warmup
			}
		case warmup:
			if ob.pass > 0 {
				armShareLogged(t, fakeURL, memberNew, auditUser)
				trailed = append(trailed, auditShare{})
				phase, note = trail, "; first pass done: share 1 armed, with its event"
			} else if now > 2*physical {
				t.Fatalf("no pass done after %s", fmtDur(now))
			}
		case trail:
			cur := &trailed[len(trailed)-1]
			cur.track(t, exp, fakeURL, ob)
			for _, prev := range trailed[:len(trailed)-1] {
				if cur.image != "" && cur.image == prev.image {
					t.Fatalf("share %d went to image %s, shared before; run again", len(trailed), cur.image)
				}
			}
			note = shareProgress(fmt.Sprintf("share %d", len(trailed)), *cur)
			if cur.added == 0 || (cur.seen == 0 || cur.named == 0) && now-cur.added <= sweep {
				break
			}
			if len(trailed) < s.trailShares {
				armShareLogged(t, fakeURL, memberNew, auditUser)
				trailed = append(trailed, auditShare{})
				note += fmt.Sprintf("; share %d armed, with its event", len(trailed))
			} else {
				setAuditFault(t, fakeURL, 500)
				faultAt, errBase, failuresBase, callsBefore = now, ob.serverErrors, ob.pollFailures, ob.auditCalls
				phase, note = failing, note+"; /v1/logs answers 500 from now"
			}
		case failing:
			if ob.serverErrors > errBase {
				failSeen, frozen = now, ob.lastSuccess
				armShareLogged(t, fakeURL, memberNew, auditUser)
				phase, note = failed, "; the failure shows: the sweep's share armed, with its event"
			}
		case failed:
			second.track(t, exp, fakeURL, ob)
			for _, prev := range trailed {
				if second.image != "" && second.image == prev.image {
					t.Fatalf("the sweep's share went to image %s, shared before; run again", second.image)
				}
			}
			note = shareProgress("the sweep's share", second)
			if ob.lastSuccess != frozen {
				moved++
			}
			if _, ok := ob.changed[second.image]; ok && second.image != "" {
				namedWhileFailing = true
			}
			if second.added != 0 && (second.seen != 0 || now-second.added > 3*sweep/2) {
				setAuditFault(t, fakeURL, 0)
				recoverAt, errFailed, failures, callsAfter = now, ob.serverErrors, ob.pollFailures, ob.auditCalls
				second.named = 0 // from here on, measured from the recovery
				phase, note = recovered, note+"; /v1/logs answers again"
			}
		case recovered:
			if successBack == 0 && ob.lastSuccess > frozen {
				successBack = ob.end - recoverAt
			}
			if _, ok := ob.changed[second.image]; ok && second.named == 0 {
				second.named, second.event = ob.end-recoverAt, ob.changed[second.image]
			}
			note = fmt.Sprintf("; recovered %.1fs ago", (now - recoverAt).Seconds())
			if successBack != 0 && second.named != 0 || now-recoverAt > 4*s.target {
				phase = done
			}
		}
		age := -1.0
		if ob.lastSuccess > 0 {
			age = float64(time.Now().UnixNano())/1e9 - ob.lastSuccess
		}
		t.Logf("t=%6.1fs scrape %5.2fs: known %4d/%d, last pass %5.1fs, audit last success %5.1fs ago, %g server errors, %g poll failures, %d audit calls, %d members calls%s",
			ob.at.Seconds(), ob.wall.Seconds(), ob.known, s.images, ob.pass, age, ob.serverErrors, ob.pollFailures, ob.auditCalls, ob.memberCalls, note)
		if phase != done && time.Since(exp.started) > deadline {
			t.Fatalf("the scenario did not end within %s (phase %d)", deadline, phase)
		}
		return phase == done
	})

	st := apiStats(t, fakeURL)
	pass := physical
	if len(passes) > 0 {
		pass = time.Duration(passes[len(passes)-1] * float64(time.Second))
	}
	ratios := func(d time.Duration) string {
		if d == 0 {
			return "never"
		}
		return fmt.Sprintf("%s = %.2f× the %s target, %.3f× the last pass (%s), %.2f× the poll interval",
			fmtDur(d), float64(d)/float64(s.target), s.target, float64(d)/float64(pass), fmtDur(pass), float64(d)/float64(s.poll))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s: %d images, budget %g/s (images÷budget %s), refresh_interval %s, audit.poll_interval %s, scrapes every %s\n",
		t.Name(), s.images, s.rate, fmtDur(physical), s.refresh, s.poll, s.interval)
	fmt.Fprintf(&b, "- passes (scp_image_members_pass_duration_seconds): %v s, last %.3f× images÷budget\n", passes, float64(pass)/float64(physical))
	b.WriteString(scrapes.line())
	fmt.Fprintf(&b, "- first fetch: with %d of %d images known, %s (not fetched yet) shared at %s with its event; the first poll whose window held it was answered %s after, the fake first served the image's members %s after the event\n",
		knownAtFirst, s.images, first.image, fmtDur(first.added), fmtDur(first.polled), fmtDur(first.fetched))
	fmt.Fprintf(&b, "  - exported with expected=\"false\" %s (target ≤ %s: %s)\n", ratios(first.seen), s.target, verdict(first.seen != 0 && first.seen <= s.target))
	fmt.Fprintf(&b, "  - user %s (event_name %q) exported %s, in the same scrape: %v (target: %s)\n", auditUser, first.event, ratios(first.named),
		first.named == first.seen, verdict(first.named != 0 && first.named == first.seen))
	var worstSeen, worstNamed time.Duration
	metTrail := true
	for i, sh := range trailed {
		fmt.Fprintf(&b, "- trail, share %d: added at %s to %s with its event; the first poll whose window held it was answered %s after (%.2f× the poll interval), the fake served the image's members again %s after the event (%s after that poll)\n",
			i+1, fmtDur(sh.added), sh.image, fmtDur(sh.polled), float64(sh.polled)/float64(s.poll), fmtDur(sh.fetched), fmtDur(sh.fetched-sh.polled))
		fmt.Fprintf(&b, "  - exported with expected=\"false\" %s (target ≤ %s: %s)\n", ratios(sh.seen), s.target, verdict(sh.seen != 0 && sh.seen <= s.target))
		fmt.Fprintf(&b, "  - user %s (event_name %q) exported %s (target ≤ %s: %s)\n", auditUser, sh.event, ratios(sh.named), s.target, verdict(sh.named != 0 && sh.named <= s.target))
		worstSeen, worstNamed = max(worstSeen, sh.seen), max(worstNamed, sh.named)
		metTrail = metTrail && sh.seen != 0 && sh.seen <= s.target && sh.named != 0 && sh.named <= s.target && sh.event == shareEventName
	}
	fmt.Fprintf(&b, "- trail, the slowest of %d: share %s, user %s (target ≤ %s: %s)\n", len(trailed), ratios(worstSeen), ratios(worstNamed), s.target, verdict(metTrail && len(trailed) == s.trailShares))
	fmt.Fprintf(&b, "- failing: /v1/logs answered 500 from %s; a scrape showed it at %s; the sweep's share added at %s to %s with its event; the sweep fetched it %s after\n",
		fmtDur(faultAt), fmtDur(failSeen), fmtDur(second.added), second.image, fmtDur(second.fetched))
	seen2 := "never"
	if second.seen != 0 {
		seen2 = fmt.Sprintf("%s = %.3f× the last pass, %.2f× the bound %s", fmtDur(second.seen), float64(second.seen)/float64(pass), float64(second.seen)/float64(sweep), fmtDur(sweep))
	}
	fmt.Fprintf(&b, "  - exported with expected=\"false\" %s (target ≤ bound: %s); the user named meanwhile: %v (expected false)\n",
		seen2, verdict(second.seen != 0 && second.seen <= sweep), namedWhileFailing)
	fmt.Fprintf(&b, "  - scp_audit_last_success_timestamp_seconds stood still in %s of the failing scrapes (target all: %s); server_error %g → %g (+%g), scp_audit_poll_failures_total +%g, in %s of failure (%d list_audit_logs calls, one every %s)\n",
		stoodStill(moved), verdict(moved == 0), errBase, errFailed, errFailed-errBase, failures-failuresBase, fmtDur(recoverAt-faultAt),
		callsAfter-callsBefore, fmtDur((recoverAt-faultAt)/time.Duration(max(1, callsAfter-callsBefore))))
	fmt.Fprintf(&b, "- recovered: last success advanced %s after (%.2f× the poll interval); the sweep's share's user named %s after the recovery (%.2f× the poll interval; target ≤ %s: %s); server_error after: %g\n",
		fmtDur(successBack), float64(successBack)/float64(s.poll), fmtDur(second.named), float64(second.named)/float64(s.poll), s.target,
		verdict(successBack != 0 && second.named != 0 && second.named <= s.target), last.serverErrors)
	total := last.end
	audits := st.Calls["list_audit_logs"]
	fmt.Fprintf(&b, "- cost: %d list_audit_logs of %d calls (%.2f%%; one every %s = %.3f calls/s over %s = %.1f%% of the budget), %d members calls\n",
		audits, st.Total, 100*float64(audits)/float64(max(1, st.Total)), fmtDur(total/time.Duration(max(1, audits))),
		float64(audits)/total.Seconds(), fmtDur(total), 100*float64(audits)/total.Seconds()/s.rate, st.Calls["list_image_members"])
	t.Log(b.String())

	if first.seen == 0 || first.seen > s.target {
		t.Errorf("the share on an image not fetched yet exported with expected=\"false\" %s after its event, want at most %s", fmtDur(first.seen), s.target)
	}
	if first.named == 0 || first.named != first.seen || first.event != shareEventName {
		t.Errorf("the share on an image not fetched yet: its user exported %s after its event (event_name %q), want in the scrape that showed the share (%s), %q",
			fmtDur(first.named), first.event, fmtDur(first.seen), shareEventName)
	}
	if len(trailed) != s.trailShares {
		t.Errorf("phase 1 added %d shares, want %d", len(trailed), s.trailShares)
	}
	for i, sh := range trailed {
		if sh.seen == 0 || sh.seen > s.target {
			t.Errorf("share %d exported with expected=\"false\" %s after its event, want at most %s", i+1, fmtDur(sh.seen), s.target)
		}
		if sh.named == 0 || sh.named > s.target {
			t.Errorf("share %d's user exported %s after its event, want at most %s", i+1, fmtDur(sh.named), s.target)
		}
		if sh.event != shareEventName && sh.named != 0 {
			t.Errorf("share %d's event_name exported %q, want %q", i+1, sh.event, shareEventName)
		}
	}
	if second.seen == 0 || second.seen > sweep {
		t.Errorf("with the trail failing, the sweep's share exported %s after it was added, want at most %s (the sweep)", fmtDur(second.seen), fmtDur(sweep))
	}
	if moved != 0 {
		t.Errorf("scp_audit_last_success_timestamp_seconds moved in %d scrapes while the trail failed", moved)
	}
	if namedWhileFailing {
		t.Error("the sweep's share's user was exported while the trail failed: from what?")
	}
	if errFailed <= errBase {
		t.Errorf("scp_api_request_errors_total{operation=\"list_audit_logs\",reason=\"server_error\"} did not grow while the trail failed: %g → %g", errBase, errFailed)
	}
	if successBack == 0 {
		t.Error("scp_audit_last_success_timestamp_seconds did not advance after the trail recovered")
	}
	if second.named == 0 || second.named > s.target {
		t.Errorf("the sweep's share's user exported %s after the trail recovered, want at most %s", fmtDur(second.named), s.target)
	}
}

func shareProgress(name string, sh auditShare) string {
	switch {
	case sh.added == 0:
		return "; " + name + " armed, not added yet"
	case sh.seen != 0 && sh.named != 0:
		return fmt.Sprintf("; %s (added at %.1fs) shown, user named", name, sh.added.Seconds())
	case sh.seen != 0:
		return fmt.Sprintf("; %s (added at %.1fs) shown, user not named", name, sh.added.Seconds())
	}
	return fmt.Sprintf("; %s added at %.1fs, not shown yet", name, sh.added.Seconds())
}

func stoodStill(moved int) string {
	if moved == 0 {
		return "all"
	}
	return fmt.Sprintf("all but %d", moved)
}
