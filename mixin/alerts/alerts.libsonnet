// The alerts of scp_exporter (prometheusAlerts), in groups that can be
// switched off one by one (the Helm chart does): the image sharing alerts,
// visibility, images offered to or accepted from other accounts, and the
// exporter's own health. They read the recording rules of
// rules/rules.libsonnet, which must be loaded with them.
//
// Every join matches on(account, image_id[, member_id]) and every aggregation
// keeps account: the label is absent with one SCP account and present with
// several, and an absent label matches as empty on both sides. (A comparison
// of two series of the same exporter, such as a count with its limit,
// matches on every label instead, so that each exporter of a highly
// available pair is compared with its own.)
//
// Every alert carries severity (critical: act now; warning: working hours)
// and category: security for a finding about the images (who they are
// shared with, their visibility, images offered or accepted from others),
// operations for the exporter's own health. examples/alertmanager.yml
// routes on it.
//
// The sharing alerts read recording rules that hold the exporter's last
// answer while it serves none (a missed scrape, the exporter down or
// restarting, an image or listing not fetched again since a restart), for
// up to _config.holdDuration (1h): the `[1h:]` and `[1h]` windows of those
// rules. Anything the exporter serves wins at once, so a share shown gone
// resolves at that answer. SCPExporterDown says when the exporter cannot be
// scraped.
//
// The knobs go into the expressions and texts below as $(name) (see vars);
// each alert's `for:`, its runbook_url and the extra labels of _config are
// added by finish, which also adds _config.scpSeriesSelector to every
// series selector of an expression marked ${...} (lib/utils.libsonnet):
// all of them but the recorded image names and thresholds, which carry
// none of the exporter's labels (see rules/).
//
// Needs Prometheus 2.26 or later (last_over_time); tested with 2.42.
local u = import '../lib/utils.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local vars = {
      hold: c.holdDuration,
      holdWords: if c.holdDuration == '1h' then 'an hour' else u.durationWords(c.holdDuration),
      selector: c.scpExporterSelector,
      // The selector itself, in the same words for the default (any job
      // whose name contains scp_exporter or scp-exporter) and any other:
      // the Helm chart's prometheusRule.exporterSelector replaces the
      // default's text wherever the rules file carries it, so that one
      // replacement fixes SCPExporterDown's expression and its description.
      targetsWords: 'a job that {%s} selects' % c.scpExporterSelector,
      lookback: c.lastSuccessLookback,
      authThreshold: c.apiAuthErrorsPerSecondThreshold,
      rateWindow: c.apiErrorsRateWindow,
      versionEnding: u.secondsExpr(c.apiVersionSupportEndingSeconds),
      versionEndingWords: u.durationWords(u.promDuration(c.apiVersionSupportEndingSeconds)),
      auditPolls: c.auditFailingPolls,
      auditMin: u.secondsExpr(c.auditMinFailingSeconds),
      auditMinShort: u.promDuration(c.auditMinFailingSeconds),
      auditMinHuman: u.humanizeDuration(c.auditMinFailingSeconds),
    },
    // finish adds what every alert gets from _config: its `for:` (every
    // alert must be named in alertFor, null for none), the extra labels,
    // the runbook URL, and the knobs in its expression and texts; forWords
    // is its own `for:` in words ("15 minutes").
    local finish(r) =
      assert std.objectHas(c.alertFor, r.alert) : '_config.alertFor has no entry for %s (null for no for:)' % r.alert;
      local f = c.alertFor[r.alert];
      local v = vars { forWords: if f == null then '' else u.durationWords(f) };
      r {
        expr: u.series(u.subst(r.expr, v), c.scpSeriesSelector),
        [if f != null then 'for']: f,
        labels+: c.alertLabels + std.get(c.categoryLabels, r.labels.category, {}),
        annotations: {
          [k]: u.subst(r.annotations[k], v)
          for k in std.objectFields(r.annotations)
        } + {
          runbook_url: c.runbookURLPattern % std.asciiLower(r.alert),
        },
      },
    local fold = u.fold,

    local names = std.set([r.alert for g in self.groups for r in g.rules if std.objectHas(r, 'alert')]),
    assert std.setDiff(std.set(std.objectFields(c.alertFor)), names) == [] :
           '_config.alertFor names no alert of the mixin: %s' % [std.setDiff(std.set(std.objectFields(c.alertFor)), names)],

    groups+: [
      {
        name: 'scp-exporter-sharing',
        [if c.ruleGroupInterval != null then 'interval']: c.ruleGroupInterval,
        rules: std.map(finish, [
          // An image is shared with an account not in its expected_members, and
          // the share is pending (the account can accept it at any time) or
          // accepted. Rejected shares grant nothing and are ignored.
          // critical: a private image visible to a foreign account may leak what
          // is baked into it. for 5m: the data is exact and shares do not flap;
          // the delay only gives whoever is setting up a legitimate share time to
          // add the account to expected_members. The alert survives failed
          // fetches of the image (the exporter keeps its last known members) and
          // gaps in what the exporter serves (see its recording rule in rules/), and
          // resolves at the first successful fetch without the share, or as soon
          // as the account is declared expected.
          //
          // With the audit trail followed (audit.enabled), the description names
          // who made the image's latest change the exporter saw (members or
          // visibility) and when, from scp_image_change_info and
          // scp_image_change_timestamp_seconds of the same exporter; without them
          // (no audit, no explaining event in the last 24h, or the exporter not
          // scraped now) the sentence is left out.
          {
            alert: 'SCPImageSharedWithUnexpectedMember',
            expr: |||
              group without (expected) (
                ${scp:image_member_info:last_successful_fetch{expected="false", status=~"pending|accepted"}}
              )
              * on (account, image_id) group_left (image_name)
                scp:image_display_name:info
            |||,
            labels: {
              severity: 'critical',
              category: 'security',
            },
            annotations: {
              summary: 'Image {{ $labels.image_name }} is shared with unexpected account {{ $labels.member_id }}',
              description: fold(|||
                Image {{ $labels.image_name }}{{ if ne $labels.image_name $labels.image_id }} ({{ $labels.image_id }}){{ end }}
                is shared with account {{ $labels.member_id }}, which is not in its
                expected_members; the share is {{ $labels.status }}.{{ with printf `scp_image_change_info{account=%q,image_id=%q,instance=%q}` $labels.account $labels.image_id $labels.instance | query }}
                Last changed by user {{ . | first | label "user_id" }} ({{ . | first | label "event_name" }}){{ with printf `scp_image_change_timestamp_seconds{account=%q,image_id=%q,instance=%q}` $labels.account $labels.image_id $labels.instance | query }}
                at {{ . | first | value | humanizeTimestamp }}{{ end }}, per the audit trail.{{ end }}
                Remove the share in SCP if nobody intended it; if it is legitimate, add the
                account to expected_members and reload the exporter.
              |||),
            },
          },
          // An image is shared with more accounts than its max_members allows,
          // pending and accepted shares counted, expected accounts or not: even
          // trusted shares widen what one leaked or tampered image reaches.
          // Rejected shares grant nothing and are not counted. At the limit it
          // does not fire. The value is the count.
          //
          // The limit is the image's own where it has one, else its account's
          // default. The exporter serves the default once per account
          // (scp_image_member_limit_default, absent when there is none) and an
          // image's own only where it differs from it (scp_image_member_limit;
          // 0 lifts the limit for that image, which then never alerts), so that
          // a limit on every image costs one series, not one per image. An image
          // with a limit of its own is compared with it (first branch, matching
          // on every label); every other image with its account's default
          // (second branch, on (account, instance, job): the default has no
          // image_id).
          //
          // Members come from scp:image_member_info:last_successful_fetch, so a
          // failed fetch or a gap in what the exporter serves does not resolve
          // it; each member counts once whatever its status. The limits are
          // config, served whatever the fetches did, and held for up to 1h (like
          // the members) only while the exporter does not serve them: an image's
          // own while the exporter serves none of the image's members (down, or
          // not_found), the default while it serves nothing for the account
          // (no scp_image_members_stalest_age_seconds, which it always serves:
          // down). So a limit removed or changed by a reload counts from the
          // next scrape. Both comparisons keep the exporter's instance and job,
          // so each exporter watching the image (high availability) is compared
          // with its own limit.
          //
          // warning: a share over the limit with an account nobody declared
          // already pages as SCPImageSharedWithUnexpectedMember; this one is about
          // policy and blast radius, for working hours. for 15m: moving a share
          // from one account to another (add the new, then remove the old) goes
          // over the limit for the minutes in between, and should not alert.
          {
            alert: 'SCPImageSharedWithTooManyAccounts',
            expr: |||
              (
                  (
                      count without (member_id) (
                        group without (status, expected) (
                          ${scp:image_member_info:last_successful_fetch{status=~"pending|accepted"}}
                        )
                      )
                    >
                      (
                        (
                            ${scp_image_member_limit}
                          or
                            (
                              last_over_time(${scp_image_member_limit}[$(hold)])
                              unless ignoring (status) ${scp_image_members}
                            )
                        )
                        > 0
                      )
                  )
                or
                  (
                      (
                        count without (member_id) (
                          group without (status, expected) (
                            ${scp:image_member_info:last_successful_fetch{status=~"pending|accepted"}}
                          )
                        )
                        unless
                          (
                              ${scp_image_member_limit}
                            or
                              (
                                last_over_time(${scp_image_member_limit}[$(hold)])
                                unless ignoring (status) ${scp_image_members}
                              )
                          )
                      )
                    > on (account, instance, job) group_left ()
                      (
                          ${scp_image_member_limit_default}
                        or
                          (
                            last_over_time(${scp_image_member_limit_default}[$(hold)])
                            unless on (account, instance, job) ${scp_image_members_stalest_age_seconds}
                          )
                      )
                  )
              )
              * on (account, image_id) group_left (image_name)
                scp:image_display_name:info
            |||,
            labels: {
              severity: 'warning',
              category: 'security',
            },
            annotations: {
              summary: 'Image {{ $labels.image_name }} is shared with more accounts than its max_members',
              description: fold(|||
                Image {{ $labels.image_name }}{{ if ne $labels.image_name $labels.image_id }} ({{ $labels.image_id }}){{ end }}
                is shared with {{ $value | printf "%.0f" }} accounts (pending and accepted shares),
                more than its max_members of
                {{ with printf `scp_image_member_limit{account=%[1]q,image_id=%[2]q,instance=%[3]q} or on () scp_image_member_limit_default{account=%[1]q,instance=%[3]q} or on () last_over_time(scp_image_member_limit{account=%[1]q,image_id=%[2]q,instance=%[3]q}[$(hold)]) or on () last_over_time(scp_image_member_limit_default{account=%[1]q,instance=%[3]q}[$(hold)])` $labels.account $labels.image_id $labels.instance | query }}{{ . | first | value | printf "%.0f" }}{{ else }}(unknown){{ end }}{{ with $labels.account }}
                (account {{ . }}){{ end }}. Remove the shares that are no longer needed in SCP
                (pending offers first); if the image really must reach that many accounts,
                raise its max_members and reload the exporter.
              |||),
            },
          },
          // A share has been pending for longer than
          // scp:image_share_pending_max_age_seconds, counted from the member's
          // updated timestamp (created when the API gives no updated). warning:
          // housekeeping, not an incident; for 30m rides over a status change
          // that is under way. It uses the last successful fetch like the alert
          // above, so a failed scrape does not resolve it.
          {
            alert: 'SCPImageSharePendingTooLong',
            expr: |||
              (
                  (
                      time()
                    - (
                          last_over_time(${scp_image_member_updated_timestamp_seconds}[$(hold)])
                        or
                          last_over_time(${scp_image_member_created_timestamp_seconds}[$(hold)])
                      )
                  )
                  * on (account, image_id, member_id) group_left (expected)
                    max by (account, image_id, member_id, expected) (
                      ${scp:image_member_info:last_successful_fetch{status="pending"}}
                    )
                > on () group_left ()
                  scp:image_share_pending_max_age_seconds
              )
              * on (account, image_id) group_left (image_name)
                scp:image_display_name:info
            |||,
            labels: {
              severity: 'warning',
              category: 'security',
            },
            annotations: {
              summary: 'Share of image {{ $labels.image_name }} with {{ $labels.member_id }} has been pending too long',
              description: fold(|||
                Image {{ $labels.image_name }}{{ if ne $labels.image_name $labels.image_id }} ({{ $labels.image_id }}){{ end }}
                was offered to account {{ $labels.member_id }} (expected: {{ $labels.expected }})
                {{ $value | humanizeDuration }} ago and the offer is still pending, longer than
                {{ with query "scp:image_share_pending_max_age_seconds" }}{{ . | first | value | humanizeDuration }}{{ end }}.
                Ask the account's owner to accept or reject it, or remove the share if
                it is no longer needed.
              |||),
            },
          },
        ]),
      },
      {
        name: 'scp-exporter-visibility',
        [if c.ruleGroupInterval != null then 'interval']: c.ruleGroupInterval,
        rules: std.map(finish, [
          // An image's visibility is outside its allowed_visibility (default
          // private and shared): typically an image of ours turned public or
          // community, which shares it with every SCP account at once, expected
          // members or not. critical, like an unexpected share, and wider.
          //
          // The exporter refreshes visibility in the background every
          // discovery.refresh_interval (10m by default) and keeps the last known
          // value while the API fails (and across a config reload), so a failed
          // call neither resolves the alert nor drops the series; while the
          // exporter serves no visibility at all (down, restarting, or not yet
          // listed after a restart), its recording rule (rules/) holds the last one
          // for up to 1h, and SCPExporterDown says the exporter is down. The
          // value changes only when a refresh finishes and then stays for a
          // whole interval, so `for` cannot filter out a wrong answer of the
          // API, only add to the up to one interval the exporter already takes
          // to notice; 1m waits for a second evaluation.
          // Kept below the refresh interval, it also means that any visibility
          // the exporter saw, even for one refresh, fires. The description names
          // who made the image's latest change, as SCPImageSharedWithUnexpectedMember's.
          {
            alert: 'SCPImageVisibilityUnexpected',
            expr: |||
              (${scp:image_visibility_unexpected:last_known} == 1)
              * on (account, image_id) group_left (image_name)
                scp:image_display_name:info
            |||,
            labels: {
              severity: 'critical',
              category: 'security',
            },
            annotations: {
              summary: 'Image {{ $labels.image_name }} is {{ $labels.visibility }}, which its allowed_visibility does not allow',
              description: fold(|||
                Image {{ $labels.image_name }}{{ if ne $labels.image_name $labels.image_id }} ({{ $labels.image_id }}){{ end }}
                has visibility {{ $labels.visibility }}, which is not in its allowed_visibility{{ if eq $labels.visibility "public" "community" }}:
                every SCP account can see it and launch servers from it, whatever its
                expected_members{{ end }}.{{ with printf `scp_image_change_info{account=%q,image_id=%q,instance=%q}` $labels.account $labels.image_id $labels.instance | query }}
                Last changed by user {{ . | first | label "user_id" }} ({{ . | first | label "event_name" }}){{ with printf `scp_image_change_timestamp_seconds{account=%q,image_id=%q,instance=%q}` $labels.account $labels.image_id $labels.instance | query }}
                at {{ . | first | value | humanizeTimestamp }}{{ end }}, per the audit trail.{{ end }}
                If nobody meant to, set it back to private in SCP now and find out who changed
                it; if it is intended, add {{ $labels.visibility }} to the image's
                allowed_visibility and reload the exporter.
              |||),
            },
          },
        ]),
      },
      {
        name: 'scp-exporter-offers',
        [if c.ruleGroupInterval != null then 'interval']: c.ruleGroupInterval,
        rules: std.map(finish, [
          // Another account offers an image to ours (GET /v1/pending-images) and
          // its owner is not in expected_image_owners: a way for a tampered image
          // (a backdoor, a miner) to reach our servers, if someone here accepts it
          // and launches servers from it. warning, not critical: nothing has
          // reached us yet and nothing does without a second step by someone in
          // our account, so the offer should be looked at (and rejected) in
          // working hours, not page anyone at night. Route it higher if you treat
          // an offer as an incident.
          //
          // Like visibility, the list is refreshed every refresh interval and
          // kept while the API fails; while the exporter serves no list at all
          // (down, or restarted and not listed yet) its recording rule (rules/)
          // holds the last one. An offer leaves the list when it is withdrawn,
          // rejected or accepted, so the alert resolves in all three cases (at
          // the first listing that shows it gone); a `for` below the refresh
          // interval (1m) makes sure any offer the exporter saw fires, even one
          // accepted right after.
          // When it is accepted, SCPImageAcceptedFromUnexpectedOwner (critical,
          // below) fires at the same evaluation.
          {
            alert: 'SCPImageOfferedByUnexpectedOwner',
            expr: |||
              group without (expected, name) (
                label_replace(
                  label_replace(${scp:pending_image_info:last_listing{expected="false"}}, "image_name", "$1", "image_id", "(.+)"),
                  "image_name", "$1", "name", "(.+)"
                )
              )
            |||,
            labels: {
              severity: 'warning',
              category: 'security',
            },
            annotations: {
              summary: 'Image {{ $labels.image_name }} is offered by unexpected owner {{ $labels.owner }}',
              description: fold(|||
                Account {{ $labels.owner }}, which is not in expected_image_owners, offers image
                {{ $labels.image_name }}{{ if ne $labels.image_name $labels.image_id }} ({{ $labels.image_id }}){{ end }}
                to {{ with $labels.account }}account {{ . }}{{ else }}this account{{ end }}. Do not accept it or
                launch servers from it before you know who made it and what is in it. Reject
                it in SCP if nobody expects it; if the owner is legitimate, add it to
                expected_image_owners and reload the exporter.
              |||),
            },
          },
          // An image another account shares with ours, whose owner is not in
          // expected_image_owners, has been accepted: it is in the shared listing
          // (GET /v1/images?visibility=shared, images whose owner is not ours),
          // no longer in the pending ones. Anyone in our account can now launch
          // servers from it, and someone here took the step to make it so.
          // critical: a stranger's image in use is the incident the offer alert
          // warned of.
          //
          // No `for`: SCPImageOfferedByUnexpectedOwner, which resolves when the
          // offer leaves the pending list, hands over to this one. The exporter
          // takes the image off scp_pending_image_info and puts it in
          // scp_shared_image_info in the same listing round, so both series
          // change at the same scrape; with no `for` this alert fires at the
          // first evaluation that sees the new series, the same one at which the
          // offer alert resolves: no evaluation without either (the promtool
          // test checks every step). The other way, keep_firing_for on the offer
          // alert, would also keep it firing after an offer was withdrawn or
          // rejected, which says the wrong thing, and would not cover an offer
          // accepted within one listing round, which the offer alert never saw.
          // The data is exact (the list is kept while the API fails), so there
          // is nothing for a `for` to filter out; while the exporter serves no
          // list at all (a failed scrape, a restart before its first listing),
          // its recording rule (rules/) holds the last one. It resolves when the
          // image leaves the list (we rejected it, or the owner stopped sharing
          // it) or its owner is declared expected.
          {
            alert: 'SCPImageAcceptedFromUnexpectedOwner',
            expr: |||
              group without (expected, name) (
                label_replace(
                  label_replace(${scp:shared_image_info:last_listing{expected="false"}}, "image_name", "$1", "image_id", "(.+)"),
                  "image_name", "$1", "name", "(.+)"
                )
              )
            |||,
            labels: {
              severity: 'critical',
              category: 'security',
            },
            annotations: {
              summary: 'Image {{ $labels.image_name }} of unexpected owner {{ $labels.owner }} has been accepted',
              description: fold(|||
                {{ with $labels.account }}Account {{ . }}{{ else }}This account{{ end }} has accepted image
                {{ $labels.image_name }}{{ if ne $labels.image_name $labels.image_id }} ({{ $labels.image_id }}){{ end }}
                shared by account {{ $labels.owner }}, which is not in expected_image_owners:
                anyone in it can launch servers from the image. Find out who accepted it and
                whether servers run from it; if nobody knows who made the image and what is
                in it, stop those servers and reject the image in SCP (set the account's
                membership of it to rejected). If the owner is legitimate, add it to
                expected_image_owners and reload the exporter.
              |||),
            },
          },
        ]),
      },
      {
        name: 'scp-exporter-operations',
        [if c.ruleGroupInterval != null then 'interval']: c.ruleGroupInterval,
        rules: std.map(finish, [
          // Prometheus cannot scrape the exporter (up is 0), or has no target of
          // its job at all (the scrape config or ServiceMonitor is gone, or
          // selects nothing, or the exporter's Service has no endpoints), for 5
          // minutes. Meanwhile every sharing alert is blind: the recording rules
          // above hold what the exporter last served, for up to an hour, so an
          // alert already firing goes on (and then resolves), but a share,
          // visibility change or offer made meanwhile is not seen until the
          // exporter is back and has fetched it. Nothing else would say so: the
          // exporter's own alerts need its series.
          //
          // The exporter's job is found by _config.scpExporterSelector, by
          // default by name: any job whose name contains scp_exporter or
          // scp-exporter. That is scp_exporter in
          // examples/prometheus.yml, and the Service name with the Helm chart's
          // ServiceMonitor (the release's fullname, <release>-scp-exporter or
          // scp-exporter). For a job named otherwise, rename it or set
          // _config.scpExporterSelector. absent() can only tell
          // that no target of the job is known: one of several exporters
          // (shards, a high-availability pair) taken out of the scrape config
          // goes unnoticed, one that is down does not.
          //
          // critical: the security alerts cannot fire. for 5m: a restart takes
          // seconds and a rollout a minute or two, which the sharing alerts ride
          // over; absent() is also true for a few seconds after Prometheus starts.
          {
            alert: 'SCPExporterDown',
            expr: |||
              up{$(selector)} == 0
              or
              absent(up{$(selector)})
            |||,
            labels: {
              severity: 'critical',
              category: 'operations',
            },
            annotations: {
              summary: fold(|||
                {{ with $labels.instance }}scp_exporter on {{ . }} is down{{ else }}Prometheus scrapes no scp_exporter{{ end }}:
                the image sharing alerts are blind
              |||),
              description: fold(|||
                {{ with $labels.instance }}Prometheus has failed to scrape scp_exporter on {{ . }} (job {{ $labels.job }})
                for $(forWords){{ else }}Prometheus has had no scrape target in $(targetsWords)
                for $(forWords): the scrape config or ServiceMonitor is gone or selects
                nothing, or the job has another name (see the runbook){{ end }}.
                The image sharing alerts are blind meanwhile: those already firing go on, on what
                the exporter last served, for up to $(holdWords) after its last scrape and then resolve;
                a share, visibility change or offer made now is not seen until the exporter is
                back and has fetched it.
                Check that the exporter runs and answers on /metrics (its log says why it stopped
                or cannot start), and the target's error on Prometheus's Targets page.
              |||),
            },
          },
          // The last fetch of an image's members has failed (or, after a restart,
          // not completed) for 15 minutes. 15m is several scrapes at any sensible
          // scrape interval, so a blip does not page anyone. Meanwhile the sharing
          // alerts hold the last successful fetch: the exporter keeps its member
          // series, except after not_found, when its recording rule (rules/) holds
          // them for up to 1h. The reason label is not part of the expression (a
          // failure that alternates between timeout and network would restart
          // `for` each time); the description looks it up instead.
          {
            alert: 'SCPImageMembersScrapeFailing',
            expr: |||
              (${scp_image_members_scrape_success} == 0)
              * on (account, image_id) group_left (image_name)
                scp:image_display_name:info
            |||,
            labels: {
              severity: 'warning',
              category: 'operations',
            },
            annotations: {
              summary: 'Members of image {{ $labels.image_name }} cannot be fetched',
              description: fold(|||
                The members of image {{ $labels.image_name }}{{ if ne $labels.image_name $labels.image_id }} ({{ $labels.image_id }}){{ end }}
                have not been fetched for $(forWords) (reason:
                {{ with printf `scp_image_members_scrape_error{account=%q,image_id=%q,instance=%q}` $labels.account $labels.image_id $labels.instance | query }}{{ . | first | label "reason" }}{{ else }}unknown{{ end }});
                sharing alerts for it hold the last successful fetch meanwhile (after
                not_found, for up to $(holdWords)).
                not_found: the image was deleted or its id is wrong in the config.
                not_fetched_yet: the refresh has not reached it since the exporter
                started (see SCPMembersRefreshBehind).
                unauthorized, forbidden: see SCPAPIAuthenticationFailing. Otherwise
                check the API's status and the exporter's log and network path.
              |||),
            },
          },
          // The stalest watched image of an account was last fetched successfully
          // longer ago than scp:members_refresh_max_age_seconds: its member series,
          // and the sharing alerts that read them, are that old, and a new share
          // of it would be seen that late. Either the refresh cannot keep up (a
          // full pass over every image takes longer than the threshold: too many
          // images for the API budget, or a slow API) or images keep failing
          // (SCPImageMembersScrapeFailing, which fires first, says which; a
          // not_found image is not stale: the 404 is a sure answer). An
          // image never fetched counts from when the exporter started watching
          // it, so a restart does not fire. The age is the time since a fetch,
          // over the threshold only once an image has gone that long without
          // one, so `for` only has to ride over one slow image; 15m, like
          // SCPImageMembersScrapeFailing. warning: the data is late, not wrong.
          // The value is the age; the description adds the pass figures.
          {
            alert: 'SCPMembersRefreshBehind',
            expr: |||
              ${scp_image_members_stalest_age_seconds}
              > on () group_left ()
                scp:members_refresh_max_age_seconds
            |||,
            labels: {
              severity: 'warning',
              category: 'operations',
            },
            annotations: {
              summary: 'The members refresh is behind{{ with $labels.account }} for account {{ . }}{{ end }}',
              description: fold(|||
                scp_exporter on {{ $labels.instance }} last fetched the members of its stalest
                image{{ with $labels.account }} of account {{ . }}{{ end }} {{ $value | humanizeDuration }} ago,
                longer than {{ with query "scp:members_refresh_max_age_seconds" }}{{ . | first | value | humanizeDuration }}{{ end }};
                its member series and sharing alerts are that old.
                {{ with printf `scp_image_members_pass_duration_seconds{account=%q,instance=%q}` $labels.account $labels.instance | query }}The last full pass over every image took {{ . | first | value | humanizeDuration }}{{ else }}No full pass over every image has completed{{ end }};
                the API budget allows none shorter than
                {{ with printf `scp_image_members_pass_min_duration_seconds{account=%q,instance=%q}` $labels.account $labels.instance | query }}{{ . | first | value | humanizeDuration }}{{ else }}(unknown){{ end }}
                at the {{ with printf `scp_api_rate_limit_requests_per_second{account=%q,instance=%q}` $labels.account $labels.instance | query }}{{ . | first | value | printf "%.3g" }}{{ else }}(unknown){{ end }}
                requests per second it allows now.
                {{ with printf `count(scp_image_members_scrape_error{account=%q,instance=%q,reason!="not_fetched_yet"})` $labels.account $labels.instance | query }}{{ . | first | value | printf "%.0f" }}
                of its images failed their last fetch (see SCPImageMembersScrapeFailing),
                which keeps them old. {{ end }}Size the refresh (docs/running.md, "Size it"):
                raise scp.requests_per_second as far as the API allows (if
                scp_api_rate_limit_decreases_total rises, the API throttles and more will not
                help) and scp.max_concurrency if answers are slow; in the background, keep
                members.refresh_interval above the shortest pass and well below this
                threshold, or raise scp:members_refresh_max_age_seconds.
              |||),
            },
          },
          // The API refuses the exporter's requests: 401 (unknown or expired
          // access key, wrong secret key, clock skew over the API's tolerance) or
          // 403 (the key lacks permission). Any such error is abnormal, so the
          // threshold is > 0; for 10m over a 5m rate means errors kept coming for
          // at least 5 minutes, which one clock blip does not cause.
          {
            alert: 'SCPAPIAuthenticationFailing',
            expr: |||
              sum without (operation) (
                rate(${scp_api_request_errors_total{reason=~"unauthorized|forbidden"}}[$(rateWindow)])
              ) > $(authThreshold)
            |||,
            labels: {
              severity: 'warning',
              category: 'operations',
            },
            annotations: {
              summary: 'SCP API requests fail as {{ $labels.reason }}',
              description: fold(|||
                {{ printf "%.3g" $value }} SCP API requests per second from {{ $labels.instance }}
                fail as {{ $labels.reason }}{{ with $labels.account }} (account {{ . }}){{ end }}.
                {{ if eq $labels.reason "forbidden" -}}
                The access key is valid but lacks permission: grant it read access to
                the images and their members.
                {{- else -}}
                Check the access and secret key (rotated, expired, mistyped?) and that
                the exporter host's clock is synchronised (NTP).
                {{- end }}
              |||),
            },
          },
          // The API version in use ends its guaranteed support in less than 30
          // days, or already has. The metric exists only for a version with an
          // announced end. 30 days leaves time to test a newer api_version; for 1h
          // because nothing about this is urgent within the hour.
          {
            alert: 'SCPAPIVersionSupportEnding',
            expr: |||
              ${scp_api_version_support_end_timestamp_seconds} - time() < $(versionEnding)
            |||,
            labels: {
              severity: 'warning',
              category: 'operations',
            },
            annotations: {
              summary: fold(|||
                SCP {{ $labels.service }} API version {{ $labels.version }}
                {{ if lt $value 0.0 }}is past its guaranteed support{{ else }}loses guaranteed support within $(versionEndingWords){{ end }}
              |||),
              description: fold(|||
                The exporter requests SCP {{ $labels.service }} API version {{ $labels.version }},
                whose guaranteed support {{ if lt $value 0.0 }}has ended; the API may stop
                answering it at any time{{ else }}ends in {{ $value | humanizeDuration }}{{ end }}.
                Set scp.api_version to the current version (see scp_api_version_info and
                the README), check the exporter against it, and reload.
              |||),
            },
          },
          // The last config reload failed and the exporter still runs the previous
          // config, so a change (say, a new expected member) has not taken effect.
          {
            alert: 'SCPExporterConfigReloadFailed',
            expr: '${scp_exporter_config_last_reload_successful} == 0',
            labels: {
              severity: 'warning',
              category: 'operations',
            },
            annotations: {
              summary: 'scp_exporter on {{ $labels.instance }} failed to reload its config',
              description: fold(|||
                The last config reload of scp_exporter on {{ $labels.instance }} failed;
                it keeps running the previous config. Run
                `scp_exporter --config.check --config.file=...` to list the problems,
                fix them, and reload again.
              |||),
            },
          },
          // An expected_members_file or expected_image_owners_file cannot be used:
          // missing, unreadable or malformed (a line that is not an account ID).
          // The exporter keeps the file's last good list meanwhile, so nothing
          // goes blind, but edits to the file do not take effect: an account
          // added is still alerted on, and one removed is still trusted. That
          // last part is why it alerts at all. The file is checked every few
          // seconds; for 5m, like a failed config reload, rides over an editor
          // that writes the file in several steps. warning. The series has a
          // file label and no account label (a file may serve several accounts).
          {
            alert: 'SCPExpectedListFileUnreadable',
            expr: '${scp_expected_list_file_last_read_successful} == 0',
            labels: {
              severity: 'warning',
              category: 'operations',
            },
            annotations: {
              summary: 'scp_exporter on {{ $labels.instance }} cannot read expected-list file {{ $labels.file }}',
              description: fold(|||
                scp_exporter on {{ $labels.instance }} cannot use the expected-list file {{ $labels.file }}:
                it is missing, unreadable or malformed (the exporter's log names the
                line). It keeps using the file's last good list
                {{- with printf `scp_expected_list_file_entries{file=%q,instance=%q}` $labels.file $labels.instance | query }}, of {{ . | first | value | printf "%.0f" }} account IDs{{ end }}
                {{- with printf `scp_expected_list_file_last_success_timestamp_seconds{file=%q,instance=%q} > 0` $labels.file $labels.instance | query }}, last found good at {{ . | first | value | humanizeTimestamp }}{{ end }},
                so changes to the file do not take effect: an account added to it is
                still alerted on, and one removed from it is still trusted. Fix the file
                (one account ID per line, # comments); the exporter reads it again within
                seconds, no reload needed.
              |||),
            },
          },
          // Image discovery (only with discovery enabled), the listing of images
          // offered to the account, or the listing of the images it accepted from
          // others (shared_images: the shared listing, which runs every round
          // with or without discovery) has not succeeded for longer than
          // scp:discovery_max_age_seconds. Meanwhile the exporter serves its last
          // good lists: new images are not watched, new offers and newly accepted
          // images are not seen, and the visibility refreshed in the same round
          // may be as old. With discovery, a failing listing round fires images
          // and shared_images together. shared_images alone also means that the
          // exporter cannot tell our images from others' (no private image has
          // taught it our owner value, and scp.account_id is not set): then
          // SCPImageAcceptedFromUnexpectedOwner is blind, which is worth saying.
          //
          // last_success is 0 until a listing succeeds, so the age alone would
          // fire for every exporter that just started. The second condition
          // requires the series to have been there (in this or an earlier
          // exporter process) for longer than the threshold too: a listing that
          // never succeeds fires as late as one that stopped succeeding.
          // max_over_time carries the last success across a restart of the
          // exporter, whose new process reports 0 until its first listing. The
          // third keeps it to exporters scraped now (the range functions would
          // go on over an exporter that is down, which `up` tells better). for 5m
          // gives the first listing after a long outage of the exporter time to
          // succeed. The value is the last success (0: never).
          {
            alert: 'SCPDiscoveryFailing',
            expr: |||
              label_replace(
                  (
                      max_over_time(${scp_discovery_last_success_timestamp_seconds}[$(lookback)])
                    < on () group_left () (time() - scp:discovery_max_age_seconds)
                  )
                and
                  (
                      min_over_time(timestamp(${scp_discovery_last_success_timestamp_seconds})[$(lookback):])
                    < on () group_left () (time() - scp:discovery_max_age_seconds)
                  )
                and
                  timestamp(${scp_discovery_last_success_timestamp_seconds}),
                "listing", "images", "", ""
              )
              or
              label_replace(
                  (
                      max_over_time(${scp_pending_images_last_success_timestamp_seconds}[$(lookback)])
                    < on () group_left () (time() - scp:discovery_max_age_seconds)
                  )
                and
                  (
                      min_over_time(timestamp(${scp_pending_images_last_success_timestamp_seconds})[$(lookback):])
                    < on () group_left () (time() - scp:discovery_max_age_seconds)
                  )
                and
                  timestamp(${scp_pending_images_last_success_timestamp_seconds}),
                "listing", "pending_images", "", ""
              )
              or
              label_replace(
                  (
                      max_over_time(${scp_shared_images_last_success_timestamp_seconds}[$(lookback)])
                    < on () group_left () (time() - scp:discovery_max_age_seconds)
                  )
                and
                  (
                      min_over_time(timestamp(${scp_shared_images_last_success_timestamp_seconds})[$(lookback):])
                    < on () group_left () (time() - scp:discovery_max_age_seconds)
                  )
                and
                  timestamp(${scp_shared_images_last_success_timestamp_seconds}),
                "listing", "shared_images", "", ""
              )
            |||,
            labels: {
              severity: 'warning',
              category: 'operations',
            },
            annotations: {
              summary: fold(|||
                {{ if eq $labels.listing "images" }}Image discovery{{ else if eq $labels.listing "shared_images" }}Listing the images we accepted from others{{ else }}Listing the images offered to us{{ end }}
                is failing{{ with $labels.account }} for account {{ . }}{{ end }}
              |||),
              description: fold(|||
                scp_exporter on {{ $labels.instance }} has not
                {{ if eq $labels.listing "images" }}listed the account's images (GET /v1/images){{ else if eq $labels.listing "shared_images" }}listed the images other accounts share with it that it accepted (GET /v1/images?visibility=shared){{ else }}listed the images other accounts offer (GET /v1/pending-images){{ end }}{{ with $labels.account }}
                for account {{ . }}{{ end }}
                {{ if eq $value 0.0 }}since it started{{ else }}since {{ $value | humanizeTimestamp }}{{ end }},
                for longer than {{ with query "scp:discovery_max_age_seconds" }}{{ . | first | value | humanizeDuration }}{{ end }}.
                It keeps serving the last good list, so {{ if eq $labels.listing "images" }}images created since are not watched{{ else if eq $labels.listing "shared_images" }}images accepted since go unnoticed{{ else }}new offers go unnoticed{{ end }},
                and image visibility may be as old.{{ if eq $labels.listing "shared_images" }}
                A listing that cannot tell the account's images from others' counts as
                failed too: if no list_images errors show, set scp.account_id (no private
                image has taught the exporter its owner value).{{ end }} See the
                {{ if eq $labels.listing "pending_images" }}list_pending_images{{ else }}list_images{{ end }} operation in
                scp_api_request_errors_total and the exporter's log. If discovery.refresh_interval
                is longer than 10m, raise scp:discovery_max_age_seconds.
              |||),
            },
          },
          // The audit trail (GET /v1/logs, only for accounts with audit.enabled)
          // has not been read successfully for longer than 10 polls, and at least
          // 15 minutes: max(15m, 10 x scp_audit_poll_interval_seconds). Nothing
          // goes blind: the sweep goes on, so a change is still found, but when
          // the refresh reaches its image (within one full pass over every image,
          // scp_image_members_pass_duration_seconds) rather than within seconds,
          // and without who made it. After a long outage the audit poller gives
          // up the part of the gap older than its longest window (1h), which the
          // sweep covers too.
          //
          // Built like SCPDiscoveryFailing: last_success is 0 until the first
          // poll succeeds, so the age alone would fire for every exporter that
          // just started; the second condition requires the series to have been
          // there (in this or an earlier process) longer than the threshold, so
          // a freshly started exporter has the whole threshold for its first
          // poll, and a trail that never answers fires as late as one that
          // stopped. max_over_time carries the last success across a restart.
          // The third keeps it to exporters scraped now. The 6h window holds as
          // long as the threshold stays under it (a poll_interval under 36m).
          // warning: late, not blind. for 5m gives the first poll after a long
          // outage of the exporter time to succeed. The value is the last
          // success (0: never).
          {
            alert: 'SCPAuditTrailFailing',
            expr: |||
              (
                  max_over_time(${scp_audit_last_success_timestamp_seconds}[$(lookback)])
                < time() - clamp_min($(auditPolls) * ${scp_audit_poll_interval_seconds}, $(auditMin))
              )
              and
              (
                  min_over_time(timestamp(${scp_audit_last_success_timestamp_seconds})[$(lookback):])
                < time() - clamp_min($(auditPolls) * ${scp_audit_poll_interval_seconds}, $(auditMin))
              )
              and
              timestamp(${scp_audit_last_success_timestamp_seconds})
            |||,
            labels: {
              severity: 'warning',
              category: 'operations',
            },
            annotations: {
              summary: 'Reading the audit trail is failing{{ with $labels.account }} for account {{ . }}{{ end }}',
              description: fold(|||
                scp_exporter on {{ $labels.instance }} has not read the audit trail (GET /v1/logs){{ with $labels.account }}
                of account {{ . }}{{ end }}
                {{ if eq $value 0.0 }}since it started{{ else }}since {{ $value | humanizeTimestamp }}{{ end }},
                for longer than {{ with printf `clamp_min($(auditPolls) * scp_audit_poll_interval_seconds{account=%q,instance=%q}, $(auditMin))` $labels.account $labels.instance | query }}{{ . | first | value | humanizeDuration }}{{ else }}$(auditMinHuman){{ end }}
                ($(auditPolls) polls, at least $(auditMinShort)). Detection falls back to the sweep: a new share
                or visibility change is found when the refresh reaches its image, within
                one full pass over every image ({{ with printf `scp_image_members_pass_duration_seconds{account=%q,instance=%q}` $labels.account $labels.instance | query }}the last took {{ . | first | value | humanizeDuration }}{{ else }}none has completed yet{{ end }},
                see scp_image_members_pass_duration_seconds) instead of within seconds, and
                alerts cannot name who made it. See the list_audit_logs operation in
                scp_api_request_errors_total, scp_audit_poll_failures_total and the
                exporter's log (the key needs read access to the Logging & Audit service).
              |||),
            },
          },
        ]),
      },
    ],
  },
}
