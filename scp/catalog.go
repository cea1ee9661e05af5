package scp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ServiceTypes are the catalog's names for the Virtual Server service, in
// order of preference: the official Terraform provider looks up
// scp-virtualserver, the SDK's spec names it scp-compute. Either is accepted.
var ServiceTypes = []string{"scp-virtualserver", "scp-compute"}

// IAMBaseURLFor is IAM's URL for an environment (IAM is global: one host per
// environment). The catalog is at {IAM}/v1/endpoints.
func IAMBaseURLFor(environment string) string {
	return fmt.Sprintf("https://iam.%s.samsungsdscloud.com", environment)
}

// Endpoint is one entry of IAM's endpoint catalog.
type Endpoint struct {
	Region      string
	ServiceType string
	ServiceName string
	URL         string
}

type endpointJSON struct {
	Region      flexString `json:"region"`
	ServiceType flexString `json:"service_type"`
	ServiceName flexString `json:"service_name"`
	URL         flexString `json:"url"`
}

type endpointsJSON struct {
	Endpoints json.RawMessage `json:"endpoints"`
}

// ListEndpoints reads IAM's endpoint catalog (GET {iamBase}/v1/endpoints,
// signed like every call; iamBase may end in /v1), in one attempt bounded
// by the request timeout:
// whoever resolves the endpoint retries on its own schedule. Entries that
// are not objects are skipped.
func (c *Client) ListEndpoints(ctx context.Context, iamBase string) ([]Endpoint, error) {
	if err := ValidateEndpoint(iamBase); err != nil {
		return nil, fmt.Errorf("%s: iam %w", OpListEndpoints, err)
	}
	var body endpointsJSON
	// The provider's auth URL ends in /v1: an iam_endpoint copied from it
	// is IAM's base URL all the same.
	full := strings.TrimSuffix(strings.TrimRight(iamBase, "/"), "/v1") + "/v1/endpoints"
	if _, err := c.budgeted(ctx, OpListEndpoints, full, true, &body); err != nil {
		return nil, err
	}
	list, err := rawList(body.Endpoints, "endpoints")
	if err != nil {
		c.opts.Metrics.decodeFailed(OpListEndpoints)
		return nil, &DecodeError{Operation: string(OpListEndpoints), Err: err}
	}
	out := make([]Endpoint, 0, len(list))
	for _, raw := range list {
		var e endpointJSON
		if !isObject(raw) || json.Unmarshal(raw, &e) != nil {
			continue
		}
		out = append(out, Endpoint{Region: e.Region.s, ServiceType: e.ServiceType.s, ServiceName: e.ServiceName.s, URL: e.URL.s})
	}
	return out, nil
}

// ErrNoCatalogEntry is wrapped when the catalog has no usable Virtual Server
// entry for the region.
var ErrNoCatalogEntry = errors.New("no Virtual Server entry for the region in the endpoint catalog")

// PickEndpoint returns the Virtual Server URL for region from a catalog: the
// entry whose service_type is one of ServiceTypes (scp-virtualserver before
// scp-compute) and whose region is region (case-insensitive), with a URL
// that is a valid endpoint (absolute http or https, no user info, query or
// fragment). The URL is returned without a trailing slash.
func PickEndpoint(catalog []Endpoint, region string) (string, error) {
	var invalid error
	for _, st := range ServiceTypes {
		for _, e := range catalog {
			if !strings.EqualFold(strings.TrimSpace(e.ServiceType), st) || !strings.EqualFold(strings.TrimSpace(e.Region), region) {
				continue
			}
			u := strings.TrimRight(strings.TrimSpace(e.URL), "/")
			if err := ValidateEndpoint(u); err != nil {
				invalid = fmt.Errorf("%w: the %s entry for %s: %w", ErrNoCatalogEntry, st, region, err)
				continue
			}
			return u, nil
		}
	}
	if invalid != nil {
		return "", invalid
	}
	return "", fmt.Errorf("%w (region %s, service types %s; %d entries)", ErrNoCatalogEntry, sanitize(region, 64), strings.Join(ServiceTypes, " or "), len(catalog))
}
