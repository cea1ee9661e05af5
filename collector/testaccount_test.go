package collector

import (
	"context"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/account"
	"github.com/scp-exporter/scp_exporter/internal/account/audit"
	"github.com/scp-exporter/scp_exporter/internal/account/engine"
	"github.com/scp-exporter/scp_exporter/internal/account/trustlist"
	"github.com/scp-exporter/scp_exporter/internal/config"
	"github.com/scp-exporter/scp_exporter/scp"
)

// Source is an account's members as the tests give them: a refresh engine
// (on demand, Wait fetches for the scrape), or a fixed view.
type Source interface {
	Wait(ctx context.Context)
	Snapshot() engine.View
}

// testAccount is an Account built from its parts, the way the account
// runtime's Snapshot puts them together, so that a test chooses each part:
// an engine or a fixed view, a resolved service or none, a trail.
type testAccount struct {
	// Name is the account label's value; empty in the single-account form.
	Name       string
	APIVersion scp.APIVersion
	// Service, when set, tells the endpoint and versions resolution found
	// (the client's ServiceInfo); its APIVersion replaces APIVersion.
	Service func() (scp.ServiceInfo, bool)
	Source  Source
	// ExpectedOwners are accounts whose images (offered or accepted) are
	// expected.
	ExpectedOwners map[string]bool
	// ExpectedMembers and ExpectedImageOwners are the expected accounts
	// with their names (scp_expected_member_info, ..._owner_info).
	ExpectedMembers, ExpectedImageOwners []config.Named
	MaxMembers                           account.MaxMembers
	// Changes, when set, names who changed an image: the account's audit
	// trail.
	Changes account.Explainer
	// Requests are the account's request counters (its client's
	// scp.Options.Metrics); nil is an account whose client has made no
	// call yet. Budget, when set, is the account's rate.
	Requests *scp.Metrics
	Budget   *scp.Budget
	// Audit and Lists are the trail's polling and the expected-list files'
	// status, when the account has them.
	Audit *audit.Status
	Lists []trustlist.Status
	// Storage is the state storage's status, when the account keeps one.
	Storage *account.StorageStatus
}

var _ Account = (*testAccount)(nil)

// noRequests are the request counters of an account whose client has made
// no call: every operation × reason at 0. Only read, so shared.
var noRequests = scp.NewMetrics()

// testAccountOf is scope's i-th account, to change it after building the
// scope.
func testAccountOf(s Scope, i int) *testAccount { return s.Accounts[i].(*testAccount) }

func (a *testAccount) Wait(ctx context.Context) { a.Source.Wait(ctx) }

// Snapshot reads the account's parts as account.Runtime.Snapshot does.
func (a *testAccount) Snapshot() account.Snapshot {
	snap := account.Snapshot{
		Name:           a.Name,
		Members:        a.Source.Snapshot(),
		Service:        scp.ServiceStatus{Client: a.APIVersion},
		Requests:       a.Requests,
		Budget:         a.Budget,
		Audit:          a.Audit,
		Lists:          a.Lists,
		ExpectedOwners: a.ExpectedOwners,
		MaxMembers:     a.MaxMembers,
		Storage:        a.Storage,

		ExpectedMembers:     a.ExpectedMembers,
		ExpectedImageOwners: a.ExpectedImageOwners,
	}
	if snap.Requests == nil {
		snap.Requests = noRequests
	}
	if a.Service != nil {
		snap.Service.Info, snap.Service.Resolved = a.Service()
	}
	if a.Changes != nil {
		snap.Changes = account.ExplainChanges(a.Changes, &snap.Members, time.Time{})
	}
	return snap
}
