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
"$BIN" --config.file "$work/config.yml" --web.listen-address "$EXPORTER_ADDR" 2>"$work/exporter.log" &
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

# Visibility and offered images arrive with the first background refresh.
for _ in $(seq 1 50); do
  curl -fs "http://${EXPORTER_ADDR}/metrics" | grep -q '^scp_pending_images ' && break
  sleep 0.1
done

cat <<MSG

scp_exporter is running against a fake SCP API (no cloud account involved).

  metrics:       http://${EXPORTER_ADDR}/metrics
  landing page:  http://${EXPORTER_ADDR}/

What it reports right now: "golden-ubuntu-22.04" has a pending share with an
account nobody declared; discovery found "someones-test-build", which nobody
listed, shared with an unapproved account; "hardened-base" has turned public;
an unknown account offers us "free-gpu-drivers"; "retired-image" no longer
exists.

MSG
curl -fs "http://${EXPORTER_ADDR}/metrics" | grep -E '^scp_(image_members|image_member_info|image_members_scrape_success|image_members_scrape_error|image_visibility_unexpected|pending_image_info)[{ ]'
echo

if [ "${DEMO_ONESHOT:-}" = 1 ]; then
  exit 0
fi
echo "Press Ctrl-C to stop. Exporter log follows."
tail -f "$work/exporter.log" &
pids+=($!)
wait "${pids[1]}"
