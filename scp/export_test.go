package scp

import "encoding/json"

// Test-only exports for the tests of package scp_test (the fuzz target and
// the benchmarks): they are compiled only with the tests, so they are not
// part of the package's API.

// DecodeMembers parses a members answer body the way ListImageMembers does,
// ignoring anomalies.
func DecodeMembers(data []byte) ([]Member, error) {
	var body membersJSON
	if err := json.Unmarshal(data, &body); err != nil {
		return nil, &DecodeError{Operation: string(OpListImageMembers), Err: err}
	}
	return decodeMembers(body, func(string, string) {})
}
