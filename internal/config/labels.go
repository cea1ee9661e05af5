package config

import "fmt"

// checkLabels refuses the values the user writes that the exporter shows
// as label values when they hold a piece of a secret (r): an account's
// name (the account label), an image's name (scp_image_info), the
// endpoint and audit_endpoint URLs (scp_api_endpoint_info), the list
// files' paths (scp_expected_list_file_*) and the names given to expected
// accounts (scp_expected_member_info, scp_expected_image_owner_info; those
// of the list files are checked as the files are read). Redacting them there instead
// would merge series and show a name nobody wrote. Image IDs are not
// checked: they are UUIDs, not free text, and the API lists them anyway.
// The errors do not quote the values.
func (c *Config) checkLabels(r *Redactor) []error {
	var errs []error
	check := func(field, value, label string) {
		if r.Holds(value) {
			errs = append(errs, fmt.Errorf("%s: contains a piece of a secret key (%d or more of its characters in a row); /metrics would show it as %s: choose another value",
				field, minSecretRun, label))
		}
	}
	checkNames := func(field string, list []ExpectedAccount, label string) {
		for i, e := range list {
			if e.Name != "" {
				check(fmt.Sprintf("%s[%d].name", field, i), e.Name, label)
			}
		}
	}
	const memberName, ownerName = "the member_name label of scp_expected_member_info", "the owner_name label of scp_expected_image_owner_info"
	check("expected_members_file", c.ExpectedMembersFile, "the file label of scp_expected_list_file_entries")
	check("expected_image_owners_file", c.ExpectedImageOwnersFile, "the file label of scp_expected_list_file_entries")
	checkNames("expected_members", c.ExpectedMembers, memberName)
	checkNames("expected_image_owners", c.ExpectedImageOwners, ownerName)
	for i, a := range c.Accounts {
		prefix := ""
		if !c.single {
			prefix = fmt.Sprintf("accounts[%d].", i)
			check(prefix+"name", a.Name, "the account label of its series")
			check(prefix+"expected_members_file", a.ExpectedMembersFile, "the file label of scp_expected_list_file_entries")
			check(prefix+"expected_image_owners_file", a.ExpectedImageOwnersFile, "the file label of scp_expected_list_file_entries")
			checkNames(prefix+"expected_members", a.ExpectedMembers, memberName)
			checkNames(prefix+"expected_image_owners", a.ExpectedImageOwners, ownerName)
		}
		// A URL with a password is refused by validate already.
		if validEndpoint(a.SCP.Endpoint) {
			check(prefix+"scp.endpoint", a.SCP.Endpoint, "the url label of scp_api_endpoint_info")
		}
		if validEndpoint(a.SCP.AuditEndpoint) {
			check(prefix+"scp.audit_endpoint", a.SCP.AuditEndpoint, "the url label of scp_api_endpoint_info")
		}
		for j, img := range a.Images {
			check(fmt.Sprintf("%simages[%d].name", prefix, j), img.Name, "the name label of scp_image_info")
			checkNames(fmt.Sprintf("%simages[%d].expected_members", prefix, j), img.ExpectedMembers, memberName)
		}
	}
	return errs
}
