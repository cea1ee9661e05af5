package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scp-exporter/scp_exporter/internal/serve/exposition"
)

const namespace = "scp"

// descs are the collector's descriptors for one label layout: with an
// account label first on every per-account series, or without.
type descs struct {
	multi bool

	imageInfo, members, memberInfo, memberCreated, memberUpdated *exposition.Desc
	success, failure, duration                                   *exposition.Desc
	stalestAge, passDuration, minPassDuration, refreshInterval   *exposition.Desc
	versionInfo, versionEnd                                      *exposition.Desc
	endpointInfo, serverVersion, versionOffered                  *exposition.Desc
	discoveryImages, discoverySuccess, discoveryDropped          *exposition.Desc
	visibility, visibilityUnexpected, visibilityUnknown          *exposition.Desc
	pendingInfo, pendingImages, pendingSuccess                   *exposition.Desc
	acceptedInfo, acceptedImages, acceptedSuccess                *exposition.Desc
	memberLimitDefault, memberLimit, changeInfo, changeTime      *exposition.Desc
}

func newDescs(multi bool) *descs {
	// perAccount builds a per-account series' descriptor.
	perAccount := func(name, help string, labels ...string) *exposition.Desc {
		if multi {
			labels = append([]string{"account"}, labels...)
		}
		return exposition.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels...)
	}
	return &descs{
		multi: multi,
		imageInfo: perAccount("image_info",
			"Images this exporter watches, with their configured or discovered name; always 1.", "image_id", "name"),
		members: perAccount("image_members",
			"Accounts the image is shared with, by share status (pending, accepted, rejected, or any status the API adds), as last fetched; may be cached (see scp_image_members_stalest_age_seconds).", "image_id", "status"),
		memberInfo: perAccount("image_member_info",
			"One series per account the image is shared with, as last fetched; expected is \"true\" when the account is in the image's or the top-level expected_members. Always 1; may be cached (see scp_image_members_stalest_age_seconds).",
			"image_id", "member_id", "status", "expected"),
		memberCreated: perAccount("image_member_created_timestamp_seconds",
			"When the image was shared with the account, in Unix seconds, as last fetched. Only with --collector.member-timestamps=all; by default a pending share whose updated time the API does not give has this time instead.", "image_id", "member_id"),
		memberUpdated: perAccount("image_member_updated_timestamp_seconds",
			"When the share's status last changed, in Unix seconds, as last fetched. By default (--collector.member-timestamps=pending) only for pending shares, so that how long a share has been pending can be told; all for every share, none for no share.", "image_id", "member_id"),
		success: perAccount("image_members_scrape_success",
			"1 when the last fetch of the image's members succeeded, 0 when it failed or none has completed yet (see scp_image_members_scrape_error). Member series are those of the last successful fetch, which may be up to scp_image_members_stalest_age_seconds old.", "image_id"),
		failure: perAccount("image_members_scrape_error",
			"1 for an image whose last members fetch failed, labelled with why (not_fetched_yet before the first one completes); absent on success.", "image_id", "reason"),
		duration: exposition.NewDesc("scp_scrape_duration_seconds",
			"How long this scrape waited for the members refresh, in seconds."),
		stalestAge: perAccount("image_members_stalest_age_seconds",
			"Age of the oldest sure answer about the watched images' members (a successful fetch, or a 404 saying the image is gone; since it was first watched, for an image with neither), in seconds: how old cached member series can be."),
		passDuration: perAccount("image_members_pass_duration_seconds",
			"How long the last full pass took, in seconds: from its first members call until every watched image had been fetched (or tried) once; on demand it includes the time between the scrapes it took. Absent until one completes."),
		refreshInterval: perAccount("image_members_refresh_interval_seconds",
			"members.refresh_interval in seconds: how often each image should be fetched in the background; 0 when members are fetched while scrapes wait."),
		minPassDuration: perAccount("image_members_pass_min_duration_seconds",
			"The shortest full pass the account's API budget allows now (watched images over scp_api_rate_limit_requests_per_second), in seconds; above members.refresh_interval, the interval cannot be kept."),
		versionInfo: perAccount("api_version_info",
			"The SCP API version the exporter requests and its state in the API reference; always 1.", "service", "version", "state"),
		versionEnd: perAccount("api_version_support_end_timestamp_seconds",
			"When guaranteed support of the API version in use ends (00:00 UTC the day after the announced date), in Unix seconds.", "service", "version"),
		endpointInfo: perAccount("api_endpoint_info",
			"The service URL the exporter calls and where it came from: override (scp.endpoint), catalog (IAM's endpoint catalog, or its last good answer) or fallback (the host built from region and environment, while the catalog gives none); always 1.",
			"service", "source", "url"),
		serverVersion: perAccount("api_server_version_info",
			"The API versions the service lists (the unsigned GET on its URL), with their status there (current, supported, deprecated, planned); always 1. Absent until the list has been read.",
			"service", "version", "status"),
		versionOffered: perAccount("api_version_offered",
			"1 when the service lists the API version the exporter requests (and not as planned), 0 when it does not: its calls will likely be refused (reason unsupported_version). Absent until the list has been read.",
			"service", "version"),
		discoveryImages: perAccount("discovery_images",
			"Images in the discovered list in use (the last good listing)."),
		discoverySuccess: perAccount("discovery_last_success_timestamp_seconds",
			"When image discovery last listed the account's images successfully, in Unix seconds; 0 if it never has."),
		discoveryDropped: perAccount("discovery_dropped_images",
			"Images the last listing returned that are not ours (their owner is not the owner of our private images, or scp.account_id before any is known), and are not watched."),
		visibility: perAccount("image_visibility",
			"The image's visibility (private, shared, community, public) as last learned from the image list or the image itself, refreshed on the discovery interval; always 1. Only with --collector.image-visibility: scp_image_visibility_unexpected carries the same label.",
			"image_id", "visibility"),
		visibilityUnexpected: perAccount("image_visibility_unexpected",
			"1 when the image's visibility (the label, as last learned, refreshed on the discovery interval) is outside its allowed_visibility (community or public shares it with every account), 0 when allowed.",
			"image_id", "visibility"),
		visibilityUnknown: perAccount("image_visibility_unknown_images",
			"Watched images whose visibility is not known (its look-up failed or has not run yet); no visibility alert can fire for them."),
		pendingInfo: perAccount("pending_image_info",
			"Images other accounts offer to this one, awaiting an answer; expected is \"true\" when the owner is in expected_image_owners. Always 1.",
			"image_id", "name", "owner", "expected"),
		pendingImages: perAccount("pending_images",
			"Images other accounts offer to this one, awaiting an answer, as last listed."),
		acceptedInfo: perAccount("shared_image_info",
			"Images other accounts share with this one that it has accepted (the shared listing's images whose owner is not ours), as last listed, refreshed on the discovery interval; expected is \"true\" when the owner is in expected_image_owners. Always 1.",
			"image_id", "name", "owner", "expected"),
		acceptedImages: perAccount("shared_images",
			"Images other accounts share with this one that it has accepted, as last listed. Absent until a listing could tell ours from others' (see scp_shared_images_last_success_timestamp_seconds)."),
		acceptedSuccess: perAccount("shared_images_last_success_timestamp_seconds",
			"When the images this account accepted from others were last listed successfully (with our owner value known), in Unix seconds; 0 if never."),
		memberLimitDefault: perAccount("image_member_limit_default",
			"The account's default max_members (its own, or the top-level one): how many accounts each of its images may be shared with, pending and accepted shares counted, unless scp_image_member_limit gives the image its own. Absent when there is no default limit."),
		memberLimit: perAccount("image_member_limit",
			"max_members of the image, only for images whose own limit differs from the account's default (scp_image_member_limit_default): how many accounts it may be shared with, pending and accepted shares counted; 0 means no limit for this image. Every other image has the default.", "image_id"),
		changeInfo: perAccount("image_change_info",
			"Who made the latest change the exporter saw to the image's members or visibility, from the audit trail event that explains it (within its retention, 24h); always 1. Only with audit.enabled and for images with such a change.",
			"image_id", "event_name", "user_id"),
		changeTime: perAccount("image_change_timestamp_seconds",
			"When the audit trail event in scp_image_change_info happened, in Unix seconds.", "image_id"),
		pendingSuccess: perAccount("pending_images_last_success_timestamp_seconds",
			"When the images offered to this account were last listed successfully, in Unix seconds; 0 if never."),
	}
}

func (d *descs) describe(ch chan<- *prometheus.Desc) {
	for _, desc := range []*exposition.Desc{
		d.imageInfo, d.members, d.memberInfo, d.memberCreated, d.memberUpdated,
		d.success, d.failure, d.duration, d.stalestAge, d.passDuration, d.minPassDuration, d.refreshInterval, d.versionInfo, d.versionEnd,
		d.endpointInfo, d.serverVersion, d.versionOffered,
		d.discoveryImages, d.discoverySuccess, d.discoveryDropped, d.visibility, d.visibilityUnexpected, d.visibilityUnknown,
		d.pendingInfo, d.pendingImages, d.pendingSuccess,
		d.acceptedInfo, d.acceptedImages, d.acceptedSuccess,
		d.memberLimitDefault, d.memberLimit, d.changeInfo, d.changeTime,
	} {
		ch <- desc.Prometheus()
	}
}
