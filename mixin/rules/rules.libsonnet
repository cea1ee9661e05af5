// The recording rules of scp_exporter (prometheusRules): what the alerts
// read. They are one group of their own, evaluated apart from the alert
// groups: an alert reads what the latest evaluation of this group recorded,
// at most one evaluation interval old, which every alert's `for:` rides
// over. The alerts need every rule here; switch off alert groups, never
// this one.
local u = import '../lib/utils.libsonnet';

{
  prometheusRules+:: {
    local c = $._config,
    local vars = { hold: c.holdDuration },
    // expr puts the knobs into an expression: $(name) from vars, and
    // _config.scpSeriesSelector into each series selector marked ${...}
    // (lib/utils.libsonnet). The recorded series of image names and the
    // thresholds below carry none of the exporter's labels (an aggregation
    // by account, image_id and image_name; vector()), so the alerts read
    // them unmarked: a job matcher on them would select nothing.
    local expr(s) = u.series(u.subst(s, vars), c.scpSeriesSelector),
    groups+: [
      {
        name: 'scp-exporter-recording',
        [if c.ruleGroupInterval != null then 'interval']: c.ruleGroupInterval,
        rules: [
          // The name to show for each image: its configured name, or its image_id
          // when it has none. Read over the last hour, so alerts that outlive a
          // failed scrape of the exporter keep their name; topk keeps one series
          // per image (the current name wins after a rename, two exporters
          // watching the same image give one), so the joins below never fail with
          // "many-to-many matching".
          {
            record: 'scp:image_display_name:info',
            expr: expr(|||
              group by (account, image_id, image_name) (
                label_replace(
                  label_replace(
                    topk by (account, image_id) (1,
                      ${scp_image_info} + 1 or last_over_time(${scp_image_info}[$(hold)])
                    ),
                    "image_name", "$1", "image_id", "(.+)"
                  ),
                  "image_name", "$1", "name", "(.+)"
                )
              )
            |||),
          },
          // Who each image is shared with, as of the image's last successful fetch.
          //
          // The exporter keeps an image's member series, those of its last
          // successful fetch, while fetching them fails, so most failures need no
          // hold. It serves none, though, while it cannot be scraped (down,
          // restarting), after a restart until the image's first fetch completes
          // (reason not_fetched_yet), and after not_found (the image was deleted,
          // or the key cannot see it); alerts would resolve, and fire again,
          // across such a gap. While none of an image's members are served (it
          // has no scp_image_members series, which the exporter serves whenever
          // it knows the members, 0 for the statuses nobody has), this keeps each
          // member series that was there the last time they were: its last sample
          // is no older than the image's last scp_image_members sample. Plain
          // last_over_time() would also bring back a share that was removed (or
          // declared expected, or rejected) before the gap, because the old series
          // is still inside the window.
          //
          // A member is held for at most 1h of such a gap (the window); by then
          // SCPImageMembersScrapeFailing has said not_found, or `up` that the
          // exporter is down. The subqueries use the global evaluation_interval
          // as step, which is exact as long as it is no longer than the
          // exporter's scrape_interval.
          {
            record: 'scp:image_member_info:last_successful_fetch',
            expr: expr(|||
              ${scp_image_member_info}
              or
              (
                group without () (
                    max_over_time(timestamp(${scp_image_member_info})[$(hold):])
                  >= on (account, image_id) group_left ()
                    max by (account, image_id) (max_over_time(timestamp(${scp_image_members})[$(hold):]))
                )
                unless on (account, image_id) ${scp_image_members}
              )
            |||),
          },
          // Each image's visibility, as of the last answer the exporter served.
          // The exporter keeps an image's last known visibility while the API
          // fails, but serves none while it cannot be scraped (down, restarting),
          // nor after a restart until a listing or look-up has answered for the
          // image (scp_image_visibility_unknown_images counts those): the alert
          // would resolve, and fire again, across such a gap. While the image has
          // no scp_image_visibility_unexpected series at all, this keeps the
          // series that was there at the image's last sample, with its last value,
          // for up to 1h, as scp:image_member_info:last_successful_fetch does for
          // members. A visibility the exporter served as changed before the gap
          // (a new series: private again) is not brought back, and anything it
          // serves wins at once.
          {
            record: 'scp:image_visibility_unexpected:last_known',
            expr: expr(|||
              ${scp_image_visibility_unexpected}
              or
              (
                last_over_time(${scp_image_visibility_unexpected}[$(hold)])
                and
                  (
                      max_over_time(timestamp(${scp_image_visibility_unexpected})[$(hold):])
                    >= on (account, image_id) group_left ()
                      max by (account, image_id) (max_over_time(timestamp(${scp_image_visibility_unexpected})[$(hold):]))
                  )
                unless on (account, image_id) ${scp_image_visibility_unexpected}
              )
            |||),
          },
          // The images offered to the account, as of the last listing the
          // exporter served: scp_pending_images is there whenever the exporter
          // serves the list; while it is not (the exporter cannot be scraped, or
          // has restarted and not listed yet), this keeps the series that were
          // there at its last sample, for up to 1h, like
          // scp:shared_image_info:last_listing below. An offer that left the list
          // before the gap is not brought back.
          {
            record: 'scp:pending_image_info:last_listing',
            expr: expr(|||
              ${scp_pending_image_info} == 1
              or
              (
                group without () (
                    max_over_time(timestamp(${scp_pending_image_info})[$(hold):])
                  >= on (account, instance, job) group_left ()
                    max by (account, instance, job) (max_over_time(timestamp(${scp_pending_images})[$(hold):]))
                )
                unless on (account, instance, job) ${scp_pending_images}
              )
            |||),
          },
          // The images accepted from other accounts, as of the last listing the
          // exporter served. scp_shared_images is there whenever the exporter
          // serves the list; while it is not (the exporter cannot be scraped, or
          // has restarted and not listed yet), this keeps the series that were
          // there at the last sample of scp_shared_images, for up to 1h, like
          // scp:image_member_info:last_successful_fetch does for members. A
          // series that left the list before the gap is not brought back.
          {
            record: 'scp:shared_image_info:last_listing',
            expr: expr(|||
              ${scp_shared_image_info} == 1
              or
              (
                group without () (
                    max_over_time(timestamp(${scp_shared_image_info})[$(hold):])
                  >= on (account, instance, job) group_left ()
                    max by (account, instance, job) (max_over_time(timestamp(${scp_shared_images})[$(hold):]))
                )
                unless on (account, instance, job) ${scp_shared_images}
              )
            |||),
          },
          // The pending period after which SCPImageSharePendingTooLong fires, in
          // seconds. Default 7 days: an offer nobody accepted in a week is
          // forgotten, not in progress. Change it with
          // _config.sharePendingMaxAgeSeconds (one place); the alert's
          // description reads it from this series.
          {
            record: 'scp:image_share_pending_max_age_seconds',
            expr: 'vector(%s)' % u.secondsExpr(c.sharePendingMaxAgeSeconds),
          },
          // How long image discovery (GET /v1/images), the listing of images
          // offered to the account (GET /v1/pending-images) or that of images
          // accepted from other accounts (the shared listing) may go without a
          // successful answer before SCPDiscoveryFailing fires, in seconds. All
          // run every discovery.refresh_interval (10m by default), which the
          // exporter does not export, so this has to follow it by hand: 35m is
          // three failed refreshes in a row plus half an interval, so a refresh
          // that finishes a few seconds late is never counted as failed. With
          // another refresh_interval, set _config.discoveryMaxAgeSeconds to about
          // 3.5 times that interval (the alert and its text read this series);
          // keep it under _config.lastSuccessLookback (6h), the window the alert
          // looks back over.
          {
            record: 'scp:discovery_max_age_seconds',
            expr: 'vector(%s)' % u.secondsExpr(c.discoveryMaxAgeSeconds),
          },
          // How old the stalest image's last successful members fetch may get
          // (scp_image_members_stalest_age_seconds) before SCPMembersRefreshBehind
          // fires, in seconds. A sized exporter refetches every image about once
          // per members.refresh_interval in the background, or within a few
          // scrapes on demand (refresh_interval 0s, the default), so 30m is far
          // above either at the usual settings (a refresh_interval up to 10m, a
          // scrape_interval up to 2m) and still catches an exporter that has
          // fallen behind long before anyone would notice stale shares. With a
          // longer members.refresh_interval, set
          // _config.membersRefreshMaxAgeSeconds to about 3 times that interval
          // (the alert and its text read this series).
          {
            record: 'scp:members_refresh_max_age_seconds',
            expr: 'vector(%s)' % u.secondsExpr(c.membersRefreshMaxAgeSeconds),
          },
        ],
      },
    ],
  },
}
