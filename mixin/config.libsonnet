// The knobs of the scp_exporter mixin. Override any of them with
//
//   (import 'mixin.libsonnet') + { _config+:: { holdDuration: '2h' } }
//
// With these defaults the mixin makes exactly the repository's
// alerts/scp_exporter.rules.yml (`make mixin` writes it from here).
{
  _config+:: {
    // PromQL label matchers (without braces) that select the exporter's
    // scrape targets: the `up` series SCPExporterDown reads, and what the
    // dashboard's queries select. The default keeps what the rules have
    // always done: any job whose name contains scp_exporter or scp-exporter,
    // which covers the job of examples/prometheus.yml and the Service name
    // the Helm chart's ServiceMonitor gives (<release>-scp-exporter). Set it
    // to e.g. 'job="scp"' for a job named otherwise.
    //
    // The alerts and recording rules read the exporter's scp_* families
    // without it (see scpSeriesSelector): those names are the exporter's
    // own, and its joins match on (account, image_id[, member_id]) or on
    // every label, so a second job exporting them is compared with itself.
    scpExporterSelector: 'job=~".*scp[-_]exporter.*"',

    // PromQL label matchers (without braces) added to every selector of
    // the exporter's scp_* series, and of the recorded scp:* series that
    // keep its labels, in every recording rule and alert: '' (the default)
    // adds none, and the rules read every scp_* series Prometheus has.
    // Set it to scope the rules, e.g. 'job="scp-prod"' to alert only on the
    // production exporter while a staging one is scraped by the same
    // Prometheus; set scpExporterSelector to the same matchers then, so
    // that SCPExporterDown watches that job, and fires (no target) if it
    // is renamed. (The recorded image names and thresholds
    // are left unselected: they carry no job or instance label, and are
    // recorded from selected series.)
    //
    // It is empty by default, unlike scpExporterSelector, on purpose: a
    // job that it does not select is not watched at all, and nothing says
    // so (SCPExporterDown watches `up`, not these series). A job renamed
    // (the Helm chart's serviceMonitor.jobLabel names it after a label of
    // the Service) would silently mute every security alert. Leave it
    // empty unless the same Prometheus scrapes exporters you do not want
    // alerts from.
    scpSeriesSelector: '',

    // The runbook of each alert: %s is the alert's name in lower case
    // (the anchor of its section in docs/runbook.md). Point it at your own
    // copy of the runbook, e.g. 'https://wiki.example.com/scp_exporter#%s'.
    runbookURLPattern: 'https://github.com/scp-exporter/scp_exporter/blob/main/docs/runbook.md#%s',

    // Labels added to every alert (e.g. { team: 'platform' }), and to the
    // alerts of one category: every alert carries category: security (a
    // finding about the images) or operations (the exporter's own health),
    // which examples/alertmanager.yml routes on. Both win over the alert's
    // own severity and category when they name them.
    alertLabels: {},
    categoryLabels: {
      security: {},
      operations: {},
    },

    // The evaluation interval of every rule group (e.g. '30s'); null: the
    // global evaluation_interval of Prometheus. The recording rules'
    // subqueries ([1h:]) step at the global evaluation_interval whatever
    // this says, which is exact as long as that is no longer than the
    // exporter's scrape_interval.
    ruleGroupInterval: null,

    // How long the recording rules hold the exporter's last answer while it
    // serves none (a missed scrape, the exporter down or restarting, an
    // image or listing not fetched again since a restart): the [1h] and
    // [1h:] windows of the rules and of the alerts that read the limits and
    // share timestamps. An alert already firing outlives the exporter's
    // outage by that long; SCPExporterDown says it is down meanwhile.
    holdDuration: '1h',

    // How far back SCPDiscoveryFailing and SCPAuditTrailFailing look for the
    // last successful listing or poll. Keep it above
    // discoveryMaxAgeSeconds and the audit threshold.
    lastSuccessLookback: '6h',

    // Thresholds, in seconds unless said otherwise. The first three are
    // served as recording rules (scp:image_share_pending_max_age_seconds,
    // scp:discovery_max_age_seconds, scp:members_refresh_max_age_seconds)
    // that the alerts and their descriptions read; see the rules for why
    // each default is what it is.
    //
    // A share pending for longer fires SCPImageSharePendingTooLong.
    sharePendingMaxAgeSeconds: 7 * 86400,
    // A listing (discovery, pending images, shared images) without success
    // for longer fires SCPDiscoveryFailing: about 3.5 times
    // discovery.refresh_interval (10m by default).
    discoveryMaxAgeSeconds: 35 * 60,
    // The stalest image's last members fetch older than this fires
    // SCPMembersRefreshBehind: about 3 times members.refresh_interval.
    membersRefreshMaxAgeSeconds: 30 * 60,
    // 401/403 answers per second from the API above which
    // SCPAPIAuthenticationFailing fires, over apiErrorsRateWindow.
    apiAuthErrorsPerSecondThreshold: 0,
    apiErrorsRateWindow: '5m',
    // The API version's end of support closer than this fires
    // SCPAPIVersionSupportEnding (whole days read best in its text).
    apiVersionSupportEndingSeconds: 30 * 86400,
    // The audit trail not read for this many polls, and for at least
    // auditMinFailingSeconds, fires SCPAuditTrailFailing.
    auditFailingPolls: 10,
    auditMinFailingSeconds: 15 * 60,

    // The `for:` of each alert (null: none, the alert fires at the first
    // evaluation that sees it). The alerts' comments say why each is what
    // it is. A name here that is no alert of the mixin is an error.
    alertFor: {
      SCPImageSharedWithUnexpectedMember: '5m',
      SCPImageSharedWithTooManyAccounts: '15m',
      SCPImageSharePendingTooLong: '30m',
      SCPImageVisibilityUnexpected: '1m',
      SCPImageOfferedByUnexpectedOwner: '1m',
      SCPImageAcceptedFromUnexpectedOwner: null,
      SCPExporterDown: '5m',
      SCPImageMembersScrapeFailing: '15m',
      SCPMembersRefreshBehind: '15m',
      SCPAPIAuthenticationFailing: '10m',
      SCPAPIVersionSupportEnding: '1h',
      SCPExporterConfigReloadFailed: '5m',
      SCPExpectedListFileUnreadable: '5m',
      SCPDiscoveryFailing: '5m',
      SCPAuditTrailFailing: '5m',
    },
  },
}
