package scp

import "github.com/scp-exporter/scp_exporter/internal/metric"

// ServiceStatus is what a scrape shows of one of an account's services
// (the Virtual Server, the Logging & Audit trail): where its calls go and
// which API version they request.
type ServiceStatus struct {
	// Info is what resolution learned; meaningful when Resolved.
	Info     ServiceInfo
	Resolved bool
	// Client is the version the client requests (before resolution, the
	// configured or default one).
	Client APIVersion
}

// Status is what a scrape shows of the client's service.
func (c *Client) Status() ServiceStatus {
	info, ok := c.ServiceInfo()
	return ServiceStatus{Info: info, Resolved: ok, Client: c.APIVersion()}
}

// APIVersion is the version the account's calls request.
func (s *ServiceStatus) APIVersion() APIVersion {
	if s.Resolved {
		return s.Info.APIVersion
	}
	return s.Client
}

// service is the service's name in the metrics' service label.
func (s *ServiceStatus) service() string { return s.APIVersion().ServiceName() }

// ServiceFamilies are the families of an account's service status.
var ServiceFamilies = []metric.Family[*ServiceStatus]{
	{
		Name: "scp_api_endpoint_info", Labels: []string{"service", "source", "url"},
		Help: "The service URL the exporter calls and where it came from: override (scp.endpoint), catalog (IAM's endpoint catalog, or its last good answer) or fallback (the host built from region and environment, while the catalog gives none); always 1.",
		Series: func(st *ServiceStatus, s metric.Sink) {
			if st.Resolved {
				s.Value(1, st.service(), string(st.Info.Source), st.Info.URL)
			}
		},
	},
	{
		Name: "scp_api_server_version_info", Labels: []string{"service", "version", "status"},
		Help: "The API versions the service lists (the unsigned GET on its URL), with their status there (current, supported, deprecated, planned); always 1. Absent until the list has been read.",
		Series: func(st *ServiceStatus, s metric.Sink) {
			if st.Resolved && st.Info.VersionsRead {
				for _, sv := range st.Info.Versions {
					s.Value(1, st.service(), sv.ID, sv.Status)
				}
			}
		},
	},
	{
		Name: "scp_api_version_offered", Labels: []string{"service", "version"},
		Help: "1 when the service lists the API version the exporter requests (and not as planned), 0 when it does not: its calls will likely be refused (reason unsupported_version). Absent until the list has been read.",
		Series: func(st *ServiceStatus, s metric.Sink) {
			if st.Resolved && st.Info.VersionsRead {
				s.Value(metric.Bool(st.Info.Offered), st.service(), st.Info.APIVersion.ID)
			}
		},
	},
	{
		Name: "scp_api_version_info", Labels: []string{"service", "version", "state"},
		Help: "The SCP API version the exporter requests and its state in the API reference; always 1.",
		Series: func(st *ServiceStatus, s metric.Sink) {
			v := st.APIVersion()
			s.Value(1, st.service(), v.ID, string(v.State))
		},
	},
	{
		Name: "scp_api_version_support_end_timestamp_seconds", Labels: []string{"service", "version"},
		Help: "When guaranteed support of the API version in use ends (00:00 UTC the day after the announced date), in Unix seconds.",
		Series: func(st *ServiceStatus, s metric.Sink) {
			v := st.APIVersion()
			if end := v.SupportEnd(); !end.IsZero() {
				s.Value(float64(end.Unix()), st.service(), v.ID)
			}
		},
	},
}
