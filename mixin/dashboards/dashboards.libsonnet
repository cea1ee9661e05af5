// The scp_exporter dashboard: who each image is shared with, and whether the
// exporter that says so is healthy. Plain jsonnet built with lib.libsonnet.
local g = import 'lib.libsonnet';
local sel = g.sel;

{
  _config+:: {
    // The dashboard's uid, title and tags in Grafana; its default refresh
    // and timezone ('' for the browser's, or 'utc').
    dashboardUID: 'scp-image-sharing',
    dashboardTitle: 'SCP image sharing',
    dashboardTags: ['scp', 'scp_exporter'],
    dashboardRefresh: '1m',
    dashboardTimezone: '',
    // The Prometheus data sources the picker offers (a regex of their names,
    // '' for all) and the one it shows first ('' for Grafana's default).
    dashboardDatasourceRegex: '',
    dashboardDatasource: '',
    // The most rows a table of images or shares lists: above it (say every
    // share of 50,000 images) it lists none and says to narrow the
    // selection by Account, Image, Member or Expected; the stats above the
    // tables count the rows.
    dashboardTableMaxRows: 5000,
  },

  // The panels colour ages by the alerts' thresholds of the mixin's _config
  // (config.libsonnet): membersRefreshMaxAgeSeconds, discoveryMaxAgeSeconds,
  // sharePendingMaxAgeSeconds and apiVersionSupportEndingSeconds.
  local c = $._config,
  local minutes(seconds) = '%dm' % std.floor(seconds / 60),
  // Listings run every discovery.refresh_interval (10m by default): orange
  // after about two missed rounds, red when SCPDiscoveryFailing may fire.
  local listingSteps = [['green', null], ['orange', 0.6 * c.discoveryMaxAgeSeconds], ['red', c.discoveryMaxAgeSeconds]],

  // Shares of the selected images with the selected members.
  local members(matchers=[]) =
    'scp_image_member_info' + sel(matchers + ['member_id=~"$member"'], image=true),

  // The image's max_members: its own, else its account's default; none
  // where it is 0.
  local memberLimit =
    'max by (account, image_id) (scp_image_member_limit%(img)s > 0) or (max by (account, image_id) (group by (account, instance, job, image_id) (scp_image_info%(img)s) * on (account, instance, job) group_left () scp_image_member_limit_default%(acc)s) unless on (account, image_id) scp_image_member_limit%(img)s)'
    % { img: sel(image=true), acc: sel() },

  // An exporter's own series (no account label), kept for exporters that
  // serve a selected account.
  local ofAccounts(expr) = '%s and on (job, instance) scp_api_rate_limit_requests_per_second%s' % [expr, sel()],

  // How many accounts each image with a limit is shared with (pending and
  // accepted), kept where that is nearLimit of the limit or more.
  local nearLimit = 0.8,
  local shareCount =
    '((count by (account, image_id) (max by (account, image_id, member_id) (scp_image_member_info%s))) and on (account, image_id) (%s)) or 0 * (%s)'
    % [sel(['status=~"pending|accepted"'], image=true), memberLimit, memberLimit],
  local nearLimitCount = '(%s) >= on (account, image_id) (%s * (%s))' % [shareCount, nearLimit, memberLimit],

  local statusColors = g.valueMap([['pending', null, 'orange'], ['accepted', null, 'red']]),
  local maxRows = c.dashboardTableMaxRows,
  local bounded(expr, rows) = g.bounded(expr, rows, maxRows),
  // What a bounded table's description ends with.
  local narrow = ' Lists at most %d rows: with more, it lists none; narrow the selection by Account, Image, Member or Expected (the stats count them).' % maxRows,
  // The most images the failures timeline shows rows for.
  local maxTimelineRows = 100,

  local okFailed = g.valueMap([['0', 'failed', 'red'], ['1', 'ok', 'green']]),
  local expectedColors(unexpected) = g.valueMap([['true', null, 'green'], ['false', null, unexpected]]),

  local health = [
    g.row('Exporter health'),
    g.stat(
      'Exporters up',
      'Whether Prometheus could scrape each exporter (up) at its last attempt. An exporter that is up but serves none of the selected accounts is left out; one that is down always shows, as its accounts are not known while it is. SCPExporterDown fires when one stays down.',
      [g.target(
        'min by (instance) (up%s unless on (job, instance) (group by (job, instance) (scp_exporter_build_info%s) unless on (job, instance) scp_api_rate_limit_requests_per_second%s))'
        % [sel([c.scpExporterSelector], account=false), sel(account=false), sel()],
        '{{instance}}'
      )],
      steps=[['red', null], ['green', 1]],
      mappings=g.valueMap([['0', 'down', 'red'], ['1', 'up', 'green']]),
      w=4,
    ),
    g.stat(
      'Stalest members answer',
      "Per exporter and account, the age of the oldest sure answer about the watched images' members (scp_image_members_stalest_age_seconds): how old the member series, and the sharing alerts that read them, can be; orange above SCPMembersRefreshBehind's threshold (%s). See \"Stalest members fetch\" below for its history." % minutes(c.membersRefreshMaxAgeSeconds),
      [g.target('max by (instance, account) (scp_image_members_stalest_age_seconds%s)' % sel(), '{{instance}} {{account}}')],
      unit='s',
      steps=[['green', null], ['orange', c.membersRefreshMaxAgeSeconds]],
      w=5,
    ),
    g.stat(
      'Oldest listing',
      'Per exporter and account, how long ago the oldest of its listings last succeeded: the account\'s images (discovery, only when enabled), the images offered to it and those it accepted from others, each every discovery.refresh_interval (10m by default). "never": one has not succeeded since the exporter started. See "Time since the last successful listing" below for which.',
      [g.target(
        'max by (instance, account) (%s)' % std.join(' or ', [
          'label_replace(time() - %s%s, "listing", "%s", "", "")' % [m[0], sel(), m[1]]
          for m in [
            ['scp_discovery_last_success_timestamp_seconds', 'images'],
            ['scp_pending_images_last_success_timestamp_seconds', 'pending_images'],
            ['scp_shared_images_last_success_timestamp_seconds', 'shared_images'],
          ]
        ]),
        '{{instance}} {{account}}'
      )],
      unit='dtdurations',
      steps=listingSteps,
      // A listing that never succeeded has a timestamp of 0.
      mappings=[{ type: 'range', options: { from: 1e9, to: null, result: { text: 'never', color: 'red', index: 0 } } }],
      w=5,
    ),
    g.stat(
      'API errors',
      'Share of the SCP API requests of the last 5 minutes that failed, per exporter and account (scp_api_request_errors_total over scp_api_requests_total; retries count). "no calls": none were made. See the SCP API row for the operations and reasons.',
      [g.target(
        'sum by (instance, account) (rate(scp_api_request_errors_total%(s)s[5m])) / sum by (instance, account) (rate(scp_api_requests_total%(s)s[5m]))'
        % { s: sel() },
        '{{instance}} {{account}}'
      )],
      unit='percentunit',
      steps=[['green', null], ['orange', 0.01], ['red', 0.25]],
      mappings=g.nanAs('no calls', 'green'),
      w=5,
    ),
    g.stat(
      'Config and list files',
      "Whether each exporter's last config load succeeded (on failure it keeps running the previous config), and whether each account's expected-list file was found good at its last check (only where one is configured; on failure the last good list stays in use). SCPExporterConfigReloadFailed and SCPExpectedListFileUnreadable fire for the failures.",
      [g.target(
        'label_replace(min by (instance) (%s), "file", "config", "", "") or label_replace(min by (instance, account) (scp_expected_list_file_last_read_successful%s), "file", "expected-list file", "", "")'
        % [ofAccounts('scp_exporter_config_last_reload_successful' + sel(account=false)), sel()],
        '{{instance}} {{account}} {{file}}'
      )],
      steps=[['red', null], ['green', 1]],
      mappings=okFailed,
      w=5,
    ),
  ],

  local overview = [
    g.row('Overview'),
    g.stat(
      'Images watched',
      "Images in the exporter's config (matching the image selection).",
      [g.target('count(max by (account, image_id) (scp_image_info%s)) or vector(0)' % sel(image=true))],
    ),
    g.stat(
      'Unexpected shares',
      "Pending or accepted shares with an account that is not in the image's expected_members.",
      [g.target('count(max by (account, image_id, member_id) (%s)) or vector(0)' % members(['expected="false"', 'status=~"pending|accepted"']))],
      steps=[['green', null], ['red', 1]],
    ),
    g.stat(
      'Pending shares',
      'Shares offered to an account that has neither accepted nor rejected them.',
      [g.target('count(max by (account, image_id, member_id) (%s)) or vector(0)' % members(['status="pending"']))],
      steps=[['green', null], ['orange', 1]],
    ),
    g.stat(
      'Images not fetched',
      'Images whose last members fetch failed, or has not completed since the exporter started (not_fetched_yet); their member series are those of the last successful fetch, or none after not_found.',
      [g.target('count(max by (account, image_id) (scp_image_members_scrape_success%s) == 0) or vector(0)' % sel(image=true))],
      steps=[['green', null], ['red', 1]],
    ),
    g.stat(
      'API version in use',
      'The SCP virtualserver API version the exporter requests, and its state in the API reference.',
      [g.target('max by (service, version, state) (scp_api_version_info%s)' % sel(), '{{version}} ({{state}})')],
      textMode='name',
      colorMode='none',
    ),
    g.stat(
      'Guaranteed support ends in',
      'Time until guaranteed support of the API version in use ends (negative: already ended). Versions without an announced end show "No end announced".',
      [g.target(
        '(max by (service, version) (scp_api_version_support_end_timestamp_seconds%(s)s) - time()) or (max by (service, version) (scp_api_version_info%(s)s) * NaN)'
        % { s: sel() },
        '{{version}}'
      )],
      unit='dtdurations',
      steps=[['red', null], ['orange', 0], ['green', c.apiVersionSupportEndingSeconds]],
      mappings=g.nanAs('No end announced', 'green'),
    ),
  ],

  local selectedShares = members(['expected=~"$expected"']),

  local whoShares = [
    g.row('Who each image is shared with'),
    g.stat(
      'Shares selected',
      'How many shares (image and member account, any status) the Account, Image, Member and Expected selection holds. "Every share" lists them while there are at most %d; with more it lists none: narrow the selection, say Expected false, one account or a few images or members.' % maxRows,
      [g.target('count(max by (account, image_id, member_id) (%s)) or vector(0)' % selectedShares)],
      steps=[['green', null], ['orange', maxRows + 1]],
      w=4,
      h=10,
    ),
    g.table(
      'Every share',
      'Every account each selected image is shared with, as last fetched: pending, accepted or rejected, expected or not, unexpected ones first. Member name: the name given beside the account ID in an expected_members list or expected-list file of the owning account (of any of its images: an account expected for one image and unexpected on another shows its name on both); empty for an account named in none. Filter with the Image, Member and Expected variables.' + narrow,
      [g.target(
        bounded(
          'max by (account, image_id, name, member_id, member_name, status, expected) (%s)'
          % g.withImageName(g.withMemberName(selectedShares)),
          selectedShares
        ),
        table=true
      )],
      columns=[
        ['name', 'Image'],
        ['image_id', 'Image ID'],
        ['member_id', 'Member account'],
        ['member_name', 'Member name'],
        ['status', 'Status'],
        ['expected', 'Expected'],
        ['account', 'Owning account'],
      ],
      hidden=['Value'],
      overrides=[
        g.colorText('Status', mappings=g.valueMap([['pending', null, 'orange'], ['accepted', null, 'green'], ['rejected', null, 'text']])),
        g.colorText('Expected', mappings=expectedColors('red')),
      ],
      sortBy=['Expected', false],
      w=20,
      h=10,
    ),
    g.table(
      'Images offered to us',
      'Images other accounts offer to ours and nobody has accepted or rejected yet (GET /v1/pending-images), with their owner, its name where expected_image_owners gives one, and whether it is in expected_image_owners. An offer leaves the list once answered; an accepted one moves to "Images accepted from other accounts". Not filtered by the image selection.' + narrow,
      [g.target(
        bounded(
          'max by (account, image_id, name, owner, owner_name, expected) (%s)'
          % g.withOwnerName('label_replace(scp_pending_image_info%s, "name", "$1", "image_id", "(.*)") or scp_pending_image_info%s'
                            % [sel(['name=""', 'expected=~"$expected"']), sel(['name!=""', 'expected=~"$expected"'])]),
          'scp_pending_image_info' + sel(['expected=~"$expected"'])
        ),
        table=true
      )],
      columns=[
        ['name', 'Image'],
        ['image_id', 'Image ID'],
        ['owner', 'Owner'],
        ['owner_name', 'Owner name'],
        ['expected', 'Expected owner'],
        ['account', 'Offered to'],
      ],
      hidden=['Value'],
      overrides=[g.colorText('Expected owner', mappings=expectedColors('orange'))],
      sortBy=['Expected owner', false],
    ),
    g.table(
      'Images accepted from other accounts',
      'Images other accounts share with ours that it has accepted (GET /v1/images?visibility=shared, images whose owner is not ours): anyone in the account can launch servers from them. Owner name: its name where expected_image_owners gives one. Expected owner: whether the owner is in expected_image_owners; false fires SCPImageAcceptedFromUnexpectedOwner. An offer moves here from "Images offered to us" when it is accepted. Not filtered by the image selection.' + narrow,
      [g.target(
        bounded(
          'max by (account, image_id, name, owner, owner_name, expected) (%s)'
          % g.withOwnerName('label_replace(scp_shared_image_info%s, "name", "$1", "image_id", "(.*)") or scp_shared_image_info%s'
                            % [sel(['name=""', 'expected=~"$expected"']), sel(['name!=""', 'expected=~"$expected"'])]),
          'scp_shared_image_info' + sel(['expected=~"$expected"'])
        ),
        table=true
      )],
      columns=[
        ['name', 'Image'],
        ['image_id', 'Image ID'],
        ['owner', 'Owner'],
        ['owner_name', 'Owner name'],
        ['expected', 'Expected owner'],
        ['account', 'Accepted by'],
      ],
      hidden=['Value'],
      overrides=[g.colorText('Expected owner', mappings=expectedColors('red'))],
      sortBy=['Expected owner', false],
    ),
  ],

  local unexpected = members(['expected="false"', 'status=~"pending|accepted"']),
  // The step of "Seen since": 24 hours of it for every unexpected share
  // (150,000 on a fresh install of 50,000 images without expected lists)
  // load 29M samples at once, under Prometheus's default
  // --query.max-samples (50M); 5m would load 87M (TestQueriesAtScale).
  local seenStep = '15m',
  // When each unexpected share was first seen: on the seenStep grid over
  // the last day, for a share newer than one step (which no grid point
  // saw yet) to the minute over that step, and for one newer than a minute
  // (which no minute saw yet) now.
  local seenSince =
    local shares = 'timestamp(max by (account, image_id, member_id) (%s))' % unexpected;
    'min_over_time(%(s)s[1d:%(step)s]) or min_over_time(%(s)s[%(step)s:1m]) or %(s)s' % { s: shares, step: seenStep },

  local sharing = [
    g.row('Sharing'),
    g.table(
      'Unexpected shares now',
      "Shares with accounts that are not in the image's expected_members, pending or accepted (counted by \"Unexpected shares\" above). Seen since: when Prometheus first saw the share within the last 24 hours, to %s (to the minute in the last %s, and as now for a share newer than a minute; the exporter exports share timestamps only for pending shares by default; --collector.member-timestamps=all adds when each was shared)." % [seenStep, seenStep] + narrow,
      [
        g.target(bounded('max by (account, image_id, name, member_id, status) (%s)' % g.withImageName(unexpected), unexpected), table=true),
        g.target(bounded('1000 * (%s)' % seenSince, unexpected), table=true),
      ],
      columns=[
        ['name', 'Image'],
        ['image_id', 'Image ID'],
        ['member_id', 'Member account'],
        ['status', 'Status'],
        ['Value #B', 'Seen since (24h)'],
        ['account', 'Owning account'],
      ],
      hidden=['Value #A'],
      unit='dateTimeAsIso',
      overrides=[g.colorText('Status', mappings=statusColors)],
      w=24,
    ),
    g.timeseries(
      'Members by status',
      'Accounts the selected images are shared with, by share status.',
      [g.target('sum by (status) (max by (account, image_id, status) (scp_image_members%s))' % sel(image=true), '{{status}}')],
      unit='short',
      stack=true,
      perImage=true,
    ),
    g.table(
      'Pending shares and their age',
      'Shares still waiting for the account to accept or reject them (counted by "Pending shares" above), and how long since their status last changed (since they were created when the API gives no update time). SCPImageSharePendingTooLong fires after %d days.' % std.floor(c.sharePendingMaxAgeSeconds / 86400) + narrow,
      [g.target(
        bounded(
          'max by (account, image_id, name, member_id, expected) (%s)'
          % g.withImageName(
            '(time() - max by (account, image_id, member_id) (scp_image_member_updated_timestamp_seconds%(s)s or scp_image_member_created_timestamp_seconds%(s)s)) * on (account, image_id, member_id) group_left (expected) max by (account, image_id, member_id, expected) (%(m)s)'
            % { s: sel(['member_id=~"$member"'], image=true), m: members(['status="pending"', 'expected=~"$expected"']) }
          ),
          members(['status="pending"', 'expected=~"$expected"'])
        ),
        table=true
      )],
      columns=[
        ['name', 'Image'],
        ['image_id', 'Image ID'],
        ['member_id', 'Member account'],
        ['expected', 'Expected'],
        ['Value', 'Pending for'],
        ['account', 'Owning account'],
      ],
      unit='dtdurations',
      steps=[['green', null], ['orange', c.sharePendingMaxAgeSeconds]],
      overrides=[g.colorText('Pending for')],
      sortBy=['Pending for', true],
    ),
    g.table(
      'Share counts against max_members',
      "Images shared with %d%% or more of their max_members limit, their own or else their account's default (an image whose own max_members is 0 has none): how many accounts each is shared with (pending and accepted shares, expected accounts too; rejected ones do not count), its limit, and how far over it the count is. SCPImageSharedWithTooManyAccounts fires after 15 minutes over. Empty when no image is near its limit." % (nearLimit * 100) + narrow,
      [
        g.target(bounded('max by (account, image_id, name) (%s)' % g.withImageName(nearLimitCount), nearLimitCount), table=true),
        g.target(
          bounded(
            'max by (account, image_id, name) (%s)' % g.withImageName('(%s) and on (account, image_id) (%s)' % [memberLimit, nearLimitCount]),
            nearLimitCount
          ),
          table=true
        ),
      ],
      before=[{
        id: 'calculateField',
        options: {
          mode: 'binary',
          binary: { left: 'Value #A', operator: '-', right: 'Value #B' },
          alias: 'Over the limit by',
          replaceFields: false,
        },
      }],
      columns=[
        ['name', 'Image'],
        ['image_id', 'Image ID'],
        ['Value #A', 'Shared with'],
        ['Value #B', 'max_members'],
        ['Over the limit by', 'Over the limit by'],
        ['account', 'Owning account'],
      ],
      overrides=[g.colorText('Over the limit by', thresholds=g.steps([['green', null], ['red', 1]]))],
      sortBy=['Over the limit by', true],
    ),
    g.table(
      'Who changed it',
      'With audit.enabled: for each image whose members or visibility the exporter saw change in the last 24 hours, the user and audit event that made the latest such change, and when (from the audit trail); the %d latest changes when more images changed. The unexpected-share and visibility alerts name the same user. Empty without audit.enabled, or when no image changed.' % maxRows,
      [g.target(
        'topk(%d, 1000 * max by (account, image_id, name, event_name, user_id) (%s))'
        % [maxRows, g.withImageName(
          'scp_image_change_timestamp_seconds%(s)s * on (job, instance, account, image_id) group_left (event_name, user_id) scp_image_change_info%(s)s'
          % { s: sel(image=true) }
        )],
        table=true
      )],
      columns=[
        ['name', 'Image'],
        ['image_id', 'Image ID'],
        ['user_id', 'User'],
        ['event_name', 'Event'],
        ['Value', 'Changed at'],
        ['account', 'Owning account'],
      ],
      unit='dateTimeAsIso',
      sortBy=['Changed at', true],
    ),
  ],

  local visibilityColors = g.valueMap([
    ['private', null, 'green'],
    ['shared', null, 'blue'],
    ['community', null, 'orange'],
    ['public', null, 'red'],
  ]),

  // The age of a listing's last success, NaN when none has succeeded.
  local listingAge(metric, listing) =
    'label_replace((time() - max by (account, instance) (%(m)s%(s)s > 0)) or (max by (account, instance) (%(m)s%(s)s) * NaN), "listing", "%(l)s", "", "")'
    % { m: metric, s: sel(), l: listing },

  local bothDirections = [
    g.row('Sharing in both directions'),
    g.stat(
      'Unexpected visibility',
      'Watched images whose visibility is outside their allowed_visibility (default private and shared). Public and community images are shared with every SCP account. SCPImageVisibilityUnexpected fires for each.',
      [g.target('count(max by (account, image_id) (scp_image_visibility_unexpected%s == 1)) or vector(0)' % sel(image=true))],
      steps=[['green', null], ['red', 1]],
    ),
    g.stat(
      'Offers from unexpected owners',
      'Images other accounts offer to ours (pending, not yet accepted) whose owner is not in expected_image_owners. SCPImageOfferedByUnexpectedOwner fires for each. Not filtered by the image selection: offered images are not watched.',
      [g.target('count(max by (account, image_id) (scp_pending_image_info%s)) or vector(0)' % sel(['expected="false"']))],
      steps=[['green', null], ['orange', 1]],
    ),
    g.stat(
      'Accepted from unexpected owners',
      'Images other accounts share with ours that it has accepted (servers can be launched from them) whose owner is not in expected_image_owners. SCPImageAcceptedFromUnexpectedOwner fires at once for each. Not filtered by the image selection: accepted images are not watched.',
      [g.target('count(max by (account, image_id) (scp_shared_image_info%s)) or vector(0)' % sel(['expected="false"']))],
      steps=[['green', null], ['red', 1]],
    ),
    g.stat(
      'Watched images by visibility',
      'How many watched images have each visibility, as the exporter last learned it (refreshed every discovery.refresh_interval). Images whose visibility is not known yet are not counted.',
      [g.target('count by (visibility) (max by (account, image_id, visibility) (scp_image_visibility_unexpected%s))' % sel(image=true), '{{visibility}}')],
      overrides=[
        g.override(v[0], { color: { mode: 'fixed', fixedColor: v[1] } })
        for v in [['private', 'green'], ['shared', 'blue'], ['community', 'orange'], ['public', 'red']]
      ],
      textMode='value_and_name',
      w=12,
    ),
    g.table(
      'Images with unexpected visibility now',
      'Watched images whose visibility is outside their allowed_visibility, as of the last refresh (counted by "Unexpected visibility"). Set the image back to private in SCP, or add the visibility to its allowed_visibility if it is intended.' + narrow,
      [g.target(
        bounded(
          'max by (account, image_id, name, visibility) (%s)' % g.withImageName('scp_image_visibility_unexpected%s == 1' % sel(image=true)),
          'scp_image_visibility_unexpected%s == 1' % sel(image=true)
        ),
        table=true
      )],
      columns=[['name', 'Image'], ['image_id', 'Image ID'], ['visibility', 'Visibility'], ['account', 'Owning account']],
      hidden=['Value'],
      overrides=[g.colorText('Visibility', mappings=visibilityColors)],
    ),
    g.table(
      'Time since the last successful listing',
      'How long ago each exporter last listed the account\'s images (discovery, only when enabled), the images offered to it and those it accepted from others; all run every discovery.refresh_interval (10m by default), and visibility is refreshed in the same round. "never": no listing has succeeded since the exporter started. SCPDiscoveryFailing fires after %s (scp:discovery_max_age_seconds).' % minutes(c.discoveryMaxAgeSeconds),
      [g.target(
        std.join(' or ', [
          listingAge('scp_discovery_last_success_timestamp_seconds', 'images (discovery)'),
          listingAge('scp_pending_images_last_success_timestamp_seconds', 'images offered to us'),
          listingAge('scp_shared_images_last_success_timestamp_seconds', 'images accepted from others'),
        ]),
        table=true
      )],
      columns=[['instance', 'Exporter'], ['account', 'Account'], ['listing', 'Listing'], ['Value', 'Last success']],
      unit='dtdurations',
      steps=listingSteps,
      mappings=g.nanAs('never', 'red'),
      overrides=[g.colorText('Last success')],
      sortBy=['Last success', true],
    ),
  ],

  // The share of scrapes over the range that saw each image's last fetch
  // succeed; the images below 1 (failing now or earlier in the range); and
  // the latest result of those: ok, or why not.
  local successOverRange = 'avg by (account, image_id) (avg_over_time(scp_image_members_scrape_success%s[$__range]))' % sel(image=true),
  local failedRange = '(%s) < 1' % successOverRange,
  local failedResult =
    'label_replace(scp_image_members_scrape_error%(s)s == 1, "result", "$1", "reason", "(.*)") or on (account, image_id) (label_replace(scp_image_members_scrape_success%(s)s == 1, "result", "ok", "", "") and on (account, image_id) (%(f)s))'
    % { s: sel(image=true), f: failedRange },
  // Images whose last members fetch failed, labelled with why (the
  // series exists for those only).
  local fetchFailed = 'scp_image_members_scrape_error%s == 1' % sel(image=true),

  local fetching = [
    g.row('Fetching members'),
    g.stateTimeline(
      'Members fetch failures per image',
      'The images whose last members fetch had failed, when, and why, as each scrape saw it (one row per image and reason; blank: the fetch had succeeded). Images that never failed over the time range have no row; "Images not fetched" counts those failing now. A failed image keeps the member series of its last successful fetch. Shows at most %d images at once: with more (an outage of the API), see the counts and the SCP API row.' % maxTimelineRows,
      [g.target(
        g.bounded('max by (account, image_id, name, reason) (%s)' % g.withImageName(fetchFailed), fetchFailed, maxTimelineRows),
        '{{name}} {{reason}}'
      )],
      steps=[['red', null]],
      mappings=g.valueMap([['1', 'failed', 'red']]),
      perImage=true,
    ),
    g.table(
      'Images with failed members fetches',
      "The images whose latest members fetch failed (why: not_fetched_yet before the first one completes), and those that are ok now but failed at some point over the dashboard's time range, with the share of scrapes over the range that saw a successful last fetch. Empty when every fetch succeeded." + narrow,
      [
        g.target(bounded('max by (account, image_id, name, result) (%s)' % g.withImageName(failedResult), failedRange), table=true),
        g.target(bounded('(%s) < 1' % successOverRange, failedRange), table=true),
      ],
      columns=[
        ['name', 'Image'],
        ['image_id', 'Image ID'],
        ['result', 'Latest result'],
        ['Value #B', 'Successful over the range'],
        ['account', 'Owning account'],
      ],
      hidden=['Value #A'],
      unit='percentunit',
      decimals=1,
      overrides=[g.colorText('Latest result', mappings=g.valueMap([['ok', null, 'green']]) + [{
        type: 'regex',
        options: { pattern: '.+', result: { color: 'red', index: 1 } },
      }])],
    ),
  ],

  local perAccount = '{{instance}} {{account}}',

  local staleness = [
    g.row('Coverage and staleness'),
    g.timeseries(
      'Coverage',
      'Share of the watched images (of the selection) whose last members fetch succeeded, per exporter and account. Below 100%, some failed their last fetch or have not been fetched since the exporter started: see "Images with failed members fetches". A failed image keeps the member series of its last successful fetch.',
      [g.target(
        'avg by (account, instance) (scp_image_members_scrape_success%s)' % sel(image=true),
        perAccount
      )],
      unit='percentunit',
      min=0,
      max=1,
      w=6,
      perImage=true,
    ),
    g.timeseries(
      'Stalest members fetch',
      "Age of the oldest last successful members fetch among each account's watched images (for an image never fetched, since it was first watched): how old member series, and the sharing alerts that read them, can be. SCPMembersRefreshBehind fires when it stays above the red line for 15m; the line is scp:members_refresh_max_age_seconds (%s) from the alert rules, absent if they are not loaded." % minutes(c.membersRefreshMaxAgeSeconds),
      [
        g.target('max by (account, instance) (scp_image_members_stalest_age_seconds%s)' % sel(), perAccount),
        g.target(
          'scp:members_refresh_max_age_seconds and on () count(scp_image_members_stalest_age_seconds%s)' % sel(),
          'SCPMembersRefreshBehind threshold'
        ),
      ],
      unit='s',
      overrides=[g.override('SCPMembersRefreshBehind threshold', {
        color: { mode: 'fixed', fixedColor: 'red' },
        'custom.lineStyle': { fill: 'dash', dash: [10, 10] },
        'custom.fillOpacity': 0,
      })],
      w=6,
    ),
    g.timeseries(
      'Full pass over every image',
      "How long the last full pass took, in which every watched image's members were fetched once (absent until one completes; on demand it includes the time between the scrapes that drive it), and the shortest pass the API budget allows now: the images over the effective API rate. A last pass far above its minimum is bound by latency and scp.max_concurrency; a minimum above members.refresh_interval means the interval cannot be kept.",
      [
        g.target('max by (account, instance) (scp_image_members_pass_duration_seconds%s)' % sel(), perAccount + ' last pass'),
        g.target('max by (account, instance) (scp_image_members_pass_min_duration_seconds%s)' % sel(), perAccount + ' minimum'),
      ],
      unit='s',
      w=6,
    ),
    g.timeseries(
      'Effective API rate and 429s',
      "The request rate the exporter allows itself for all of an account's API calls (scp.requests_per_second, lowered on each 429 or Retry-After and recovered slowly; see scp_api_rate_limit_decreases_total), and the throttled answers (429) per second. A rate held below requests_per_second while 429s come means the API allows the account less than the configured rate.",
      [
        g.target('max by (account, instance) (scp_api_rate_limit_requests_per_second%s)' % sel(), perAccount + ' allowed'),
        g.target(
          'sum by (account, instance) (rate(scp_api_request_errors_total%s[$__rate_interval]))' % sel(['reason="rate_limited"']),
          perAccount + ' 429s'
        ),
      ],
      unit='reqps',
      w=6,
    ),
  ],

  local latency(quantile, name) =
    g.target(
      'histogram_quantile(%s, sum by (operation, le) (rate(scp_api_request_duration_seconds_bucket%s[$__rate_interval])))' % [quantile, sel()],
      '{{operation}} ' + name
    ),

  local api = [
    g.row('SCP API'),
    g.timeseries(
      'API requests',
      'Requests to the SCP API per second, by operation and HTTP status code ("error": no response). Retries count.',
      [g.target('sum by (operation, code) (rate(scp_api_requests_total%s[$__rate_interval]))' % sel(), '{{operation}} {{code}}')],
      unit='reqps',
      w=8,
    ),
    g.timeseries(
      'API latency',
      "Request duration quantiles by operation, from the exporter's histogram.",
      [latency('0.5', 'p50'), latency('0.95', 'p95'), latency('0.99', 'p99')],
      unit='s',
      w=8,
    ),
    g.timeseries(
      'API errors and retries',
      'Failed requests per second by operation and reason, and retries (after a network error, 429, 502, 503 or 504). unauthorized/forbidden: see the SCPAPIAuthenticationFailing runbook.',
      [
        g.target('sum by (operation, reason) (rate(scp_api_request_errors_total%s[$__rate_interval]))' % sel(), '{{operation}} {{reason}}'),
        g.target('sum by (operation) (rate(scp_api_request_retries_total%s[$__rate_interval]))' % sel(), '{{operation}} retries'),
      ],
      unit='reqps',
      w=8,
    ),
  ],

  local own = sel(account=false),

  local exporter = [
    g.row('Exporter'),
    g.timeseries(
      'Scrape duration',
      "How long each scrape waited for the members refresh (on demand, up to its deadline; in the background, no time at all), and how long the whole scrape took as Prometheus measured it (scrape_duration_seconds of the exporter's targets).",
      [
        g.target('max by (instance) (%s)' % ofAccounts('scp_scrape_duration_seconds' + own), '{{instance}} waiting for the refresh'),
        g.target(
          'max by (instance) (%s)' % ofAccounts('scrape_duration_seconds%s and on (job, instance) scp_scrape_duration_seconds%s' % [own, own]),
          '{{instance}} whole scrape'
        ),
      ],
      unit='s',
    ),
    g.stat(
      'Config loaded',
      'When the exporter last loaded its config successfully.',
      [g.target('max by (instance) (%s) * 1000' % ofAccounts('scp_exporter_config_last_reload_success_timestamp_seconds' + own), '{{instance}}')],
      unit='dateTimeFromNow',
      colorMode='none',
      w=12,
    ),
  ],

  grafanaDashboards+:: {
    'scp-image-sharing.json': {
      __requires: [
        { type: 'grafana', id: 'grafana', name: 'Grafana', version: '10.3.0' },
        { type: 'datasource', id: 'prometheus', name: 'Prometheus', version: '1.0.0' },
        { type: 'panel', id: 'stat', name: 'Stat', version: '' },
        { type: 'panel', id: 'table', name: 'Table', version: '' },
        { type: 'panel', id: 'timeseries', name: 'Time series', version: '' },
        { type: 'panel', id: 'state-timeline', name: 'State timeline', version: '' },
      ],
      annotations: {
        list: [{
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        }],
      },
      description: 'Who each Samsung Cloud Platform VM image is shared with, from scp_exporter.',
      // Provisioned from this file: edits in Grafana would be lost.
      editable: false,
      fiscalYearStartMonth: 0,
      graphTooltip: 1,
      id: null,
      links: [],
      refresh: c.dashboardRefresh,
      schemaVersion: 39,
      tags: c.dashboardTags,
      time: { from: 'now-6h', to: 'now' },
      timepicker: {},
      timezone: c.dashboardTimezone,
      title: c.dashboardTitle,
      uid: c.dashboardUID,
      version: 1,
      weekStart: '',
      templating: {
        list: [
          g.datasourceVariable(c.dashboardDatasourceRegex, c.dashboardDatasource),
          g.queryVariable(
            'job',
            'Job',
            'label_values(scp_exporter_build_info{%s}, job)' % c.scpExporterSelector,
            'The jobs that scrape an scp_exporter (of those the mixin selects: %s).' % c.scpExporterSelector,
          ),
          g.queryVariable(
            'instance',
            'Instance',
            'label_values(scp_exporter_build_info{job=~"$job"}, instance)',
            'The exporters of the jobs chosen.',
          ),
          g.queryVariable(
            'account',
            'Account',
            'label_values(scp_api_rate_limit_requests_per_second{job=~"$job", instance=~"$instance"}, account)',
            'Only with several accounts (accounts: in the config); with one, its series have no account label and All matches them.',
          ),
          g.queryVariable(
            'image',
            'Image',
            'query_result(max by (image_id, name) (label_replace(scp_image_info%s, "name", "$1", "image_id", "(.+)") or scp_image_info%s))'
            % [sel(['name=""']), sel(['name!=""'])],
            'Images by name (the configured name, or the image_id when it has none); the value is the image_id.',
            regex='/image_id="(?<value>[^"]+)".*name="(?<text>[^"]*)"/',
          ),
          g.queryVariable(
            'member',
            'Member',
            'query_result(max by (member_id, member_name) (scp_expected_member_info%s or on (member_id) label_replace(scp_image_member_info%s, "member_name", "$1", "member_id", "(.+)")))'
            % [sel(['member_name!=""']), sel()],
            'The accounts the images are shared with, and the named accounts of the expected lists, by name (the name given beside the ID in expected_members or the expected-list file, or the account ID when none is); the value is the account ID.',
            regex='/member_id="(?<value>[^"]+)".*member_name="(?<text>[^"]*)"/',
          ),
          g.queryVariable(
            'expected',
            'Expected',
            'label_values(scp_image_member_info{job=~"$job", instance=~"$instance", account=~"$account"}, expected)',
            'true: shares with accounts in the expected lists (and offers from expected owners); false: the others.',
          ),
        ],
      },
      panels: g.layout(health + overview + whoShares + sharing + bothDirections + fetching + staleness + api + exporter),
    },
  },
}
