#!/usr/bin/env bash
# Runs the fake SCP API with demo fixtures and the exporter against it.
# Environment: BIN, FAKE_BIN (binaries), EXPORTER_ADDR, FAKE_ADDR (listen
# addresses), DEMO_ONESHOT=1 to print the metrics and exit instead of serving.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-./scp_exporter}
FAKE_BIN=${FAKE_BIN:-./.build/scp-fake-api}
EXPORTER_ADDR=${EXPORTER_ADDR:-127.0.0.1:9857}
FAKE_ADDR=${FAKE_ADDR:-127.0.0.1:9858}

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

sed "s#http://127.0.0.1:9858#http://${FAKE_ADDR}#" demo/config.yml > "$work/config.yml"

"$FAKE_BIN" --listen "$FAKE_ADDR" --fixtures demo/fixtures.json 2>"$work/fake.log" &
pids+=($!)
"$BIN" --config.file "$work/config.yml" --storage.path "$work/data" --web.listen-address "$EXPORTER_ADDR" 2>"$work/exporter.log" &
pids+=($!)

for _ in $(seq 1 100); do
  curl -fs "http://${EXPORTER_ADDR}/-/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
if ! curl -fs "http://${EXPORTER_ADDR}/-/ready" >/dev/null 2>&1; then
  echo "the exporter did not start:" >&2
  cat "$work/fake.log" "$work/exporter.log" >&2
  exit 1
fi

metrics() { curl -fs "http://${EXPORTER_ADDR}/metrics" || true; }

# Visibility, offered and accepted images arrive with the first background
# listing, members with the first pass over the images.
for _ in $(seq 1 50); do
  m=$(metrics)
  grep -q '^scp_pending_images ' <<<"$m" && grep -q '^scp_shared_images ' <<<"$m" &&
    grep -q '^scp_image_members_pass_duration_seconds ' <<<"$m" && break
  sleep 0.1
done

cat <<MSG

scp_exporter is running against a fake SCP API (no cloud account involved).

  metrics:       http://${EXPORTER_ADDR}/metrics
  landing page:  http://${EXPORTER_ADDR}/

What it reports right now: "golden-ubuntu-22.04" has a pending share with an
account nobody declared, and is shared with more accounts than its own
max_members (1; every other image has the default, 3); discovery found "someones-test-build", which nobody
listed, shared with an unapproved account; "hardened-base" has turned
public; an unknown account offers us "free-gpu-drivers", and we have
already accepted its "fast-ml-runtime" (and a trusted vendor's image);
"retired-image" no longer exists.

MSG
metrics | grep -E '^scp_(image_members|image_member_info|image_members_scrape_success|image_members_scrape_error|image_visibility_unexpected|image_member_limit|image_member_limit_default|pending_image_info|shared_image_info)[{ ]'

cat <<MSG

The accounts the config expects, with the names it gives them (a name may
also follow an ID in an expected-members list file), for dashboards to show
members and owners by name:

MSG
metrics | grep -E '^scp_expected_(member|image_owner)_info[{ ]'

cat <<MSG

A few seconds after it started, the fake's audit trail logs user "jane.doe"
sharing "golden-rocky-9" with another account. The exporter reads the trail
every 5s and re-checks that image at once (its regular refresh of members
is every 10m), and names who made the change. Waiting for it...

MSG
for _ in $(seq 1 60); do
  metrics | grep -q '^scp_image_change_info{' && break
  sleep 0.5
done
if ! metrics | grep -q '^scp_image_change_info{'; then
  echo "the share logged in the audit trail did not show within 30s:" >&2
  cat "$work/fake.log" "$work/exporter.log" >&2
  exit 1
fi
metrics | grep -E '^scp_(image_change_info|image_change_timestamp_seconds|audit_last_success_timestamp_seconds)[{ ]|^scp_image_member_info\{[^}]*image_id="0b7e1f4c-9d2a-4e36-8c51-2f6a7d8e9b10"'
echo

if [ "${DEMO_ONESHOT:-}" = 1 ]; then
  exit 0
fi
echo "Press Ctrl-C to stop. Exporter log follows."
tail -f "$work/exporter.log" &
pids+=($!)
wait "${pids[1]}"
