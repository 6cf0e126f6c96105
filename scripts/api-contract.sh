#!/usr/bin/env bash
# Holds the HTTP API to its own OpenAPI document with schemathesis (PyPI).
#
# Starts a real `vigil serve` on a random port with a fresh data folder (SQLite, local
# blobs, the repository's models), creates an admin API key and an admin person with the
# command line, then runs schemathesis against /api/v1/openapi.json twice:
#   1. every API operation with the admin key (`Authorization: Bearer …`);
#   2. the operations that need a signed-in person (own account, sessions, creating API
#      keys and reset links) with a session cookie and its CSRF token.
# Any failure (a 5xx, an undocumented status or content type, a body that does not match
# its schema, accepted invalid input…) fails the script. See README "API contract".
#
# Usage: scripts/api-contract.sh [VIGIL_BINARY]
#   default binary: $CARGO_TARGET_DIR/debug/vigil (what `cargo test` built), else
#   target/debug/vigil. Needs python3 with venv; installs schemathesis into a virtual
#   environment under ~/.cache (reused between runs).
# Environment: VIGIL_CI_CONTRACT_EXAMPLES (test cases per operation, default 40),
#   VIGIL_CI_CONTRACT_SEED (hypothesis seed; default fixed with CI=true, else random;
#   printed for reruns),
#   VIGIL_CI_CONTRACT_POSTGRES (a PostgreSQL server URL, e.g. postgres://postgres@127.0.0.1:5432/test:
#   the run then uses a fresh database created on that server, and drops it after).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

st_version=4.32.5
vigil=${1:-${CARGO_TARGET_DIR:-$root/target}/debug/vigil}
[ -x "$vigil" ] || { echo "no vigil binary at $vigil (build it with cargo build, or pass its path)"; exit 1; }
examples=${VIGIL_CI_CONTRACT_EXAMPLES:-40}
# CI replays one fixed set of cases, so a run fails only for a change in the code; by hand
# each run draws new ones (the seed is printed to replay a failure).
if [ "${CI:-}" = true ]; then default_seed=20261202; else
  default_seed=$(python3 -c 'import random; print(random.randrange(1, 2**31))'); fi
seed=${VIGIL_CI_CONTRACT_SEED:-$default_seed}

venv="$HOME/.cache/vigil-schemathesis-$st_version"
if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$st_version"; then
  echo "== installing schemathesis $st_version into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$st_version"
fi

work=$(mktemp -d)
server_pid=
pg_admin=${VIGIL_CI_CONTRACT_POSTGRES:-}
pg_db=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    if kill -0 "$server_pid" 2>/dev/null; then
      echo "vigil serve (pid $server_pid) did not stop" >&2
    fi
  fi
  if [ -n "$pg_db" ]; then
    psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $pg_db" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
# Request rate limits raised so the run exercises handlers rather than the limiter (which
# has its own tests); everything else, the failed-login throttle included, is the
# development profile's defaults (a throttled login answers 429, which is documented).
cat >"$work/vigil.toml" <<EOF
[server]
listen = "127.0.0.1:$port"

[rate_limit]
default = ["1000000/hour"]
login = ["1000000/hour"]
recovery = ["1000000/hour"]

[vision]
models_dir = "$root/models"
EOF
if [ -n "$pg_admin" ]; then
  pg_db="vigil_contract_$$"
  psql "$pg_admin" -qc "CREATE DATABASE $pg_db" >/dev/null
  printf '\n[database]\nurl = "%s"\n' "${pg_admin%/*}/$pg_db" >>"$work/vigil.toml"
fi

# Only this file and these flags configure the server: no .env, no DATABASE_URL.
run_vigil() {
  (cd "$work" && exec env -u DATABASE_URL -u VIGIL_REDIS_URL -u VIGIL_DATABASE__URL \
    "$vigil" --config "$work/vigil.toml" --data-dir "$work/data" "$@")
}

echo "== vigil $("$vigil" --version) on $base (data in $work/data${pg_db:+, PostgreSQL database $pg_db})"
key=$(run_vigil apikey create --name contract --role admin --expires-days 30 2>/dev/null)
person_password="contract-$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
printf '%s\n' "$person_password" | run_vigil user add contract-person --admin --password-stdin >/dev/null

# Not through run_vigil: with `exec` in a plain subshell, `$!` is the server's own pid,
# so the cleanup stops the server itself.
(cd "$work" && exec env -u DATABASE_URL -u VIGIL_REDIS_URL -u VIGIL_DATABASE__URL \
  "$vigil" --config "$work/vigil.toml" --data-dir "$work/data" serve) >"$work/serve.log" 2>&1 &
server_pid=$!
ok() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' "$1" 2>/dev/null; }
for _ in $(seq 1 120); do
  ok "$base/healthz" && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log"; echo "vigil serve exited"; exit 1; }
  sleep 0.5
done
ok "$base/readyz" || { cat "$work/serve.log"; echo "vigil is not ready"; exit 1; }

# A session for the own-account operations (API keys are refused there by design):
# prints the cookie value and the CSRF token.
read -r session csrf < <(PASSWORD="$person_password" python3 - "$base" <<'PY'
import json, os, sys, urllib.request
req = urllib.request.Request(
    sys.argv[1] + "/api/v1/auth/login",
    data=json.dumps({"username": "contract-person", "password": os.environ["PASSWORD"]}).encode(),
    headers={"Content-Type": "application/json"},
)
with urllib.request.urlopen(req, timeout=30) as resp:
    body = json.load(resp)
    cookie = resp.headers["Set-Cookie"].split(";", 1)[0].split("=", 1)[1]
print(cookie, body["csrf_token"])
PY
)
[ -n "$session" ] && [ -n "$csrf" ] || { echo "the person could not sign in"; exit 1; }

# Checks: all of them, except
# - ensure_resource_availability / use_after_free: built on links between operations,
#   which the stateful phase infers from ids in bodies; deleting and re-reading users,
#   keys and uploads is covered by the integration tests with known ids;
# - positive_data_acceptance: schema-valid bodies the policy still refuses with 422 (a
#   password the strength estimator rejects, a username that is taken) are correct
#   answers no JSON Schema can express.
# Operations left out of the keyed run, and why:
# - the event streams (GET /api/v1/events, /events/ws) never end by design (SSE, a
#   WebSocket upgrade): a request to them only stops at the client's timeout;
# - the ones that remove the run's own access: revoking API keys (DELETE /apikeys/{id}),
#   disabling, demoting or deleting users (PATCH/DELETE /users/{id}) and ending their
#   sessions (DELETE /users/{id}/sessions…), and the TOTP policy (PUT /auth/policy, which
#   could make the run's person enrol TOTP first); the stateful phase follows ids from
#   listings, so these would pick the run's own key and person.
# - in the session run, logging out and ending one's own sessions, for the same reason.
common=(
  --checks all
  --exclude-checks ensure_resource_availability,use_after_free,positive_data_acceptance
  --max-examples "$examples"
  --seed "$seed"
  --workers 1
  --request-timeout 30
  --generation-database none
  --no-color
  --suppress-health-check all
  # The credentials are the headers below; generated ones would replace them.
  --generation-with-security-parameters false
)
# schemathesis keeps a cache in its working folder: run it in the temporary one.
st() { (cd "$work" && "$venv/bin/st" "$@"); }

echo "== schemathesis $st_version with an admin API key (seed $seed, $examples examples per operation)"
status=0
st run "$base/api/v1/openapi.json" "${common[@]}" \
  -H "Authorization: Bearer $key" \
  --exclude-path-regex '^/api/v1/(events|auth/(logout|password|totp|sessions))' \
  --exclude-name 'DELETE /api/v1/apikeys/{id}' \
  --exclude-name 'PATCH /api/v1/users/{id}' \
  --exclude-name 'DELETE /api/v1/users/{id}' \
  --exclude-name 'DELETE /api/v1/users/{id}/sessions' \
  --exclude-name 'DELETE /api/v1/users/{id}/sessions/{session_id}' \
  --exclude-name 'PUT /api/v1/auth/policy' \
  || status=1

echo "== schemathesis $st_version with a signed-in admin's session (own account, key creation, reset links)"
st run "$base/api/v1/openapi.json" "${common[@]}" \
  -H "Cookie: vigil_session=$session" -H "X-CSRF-Token: $csrf" \
  --include-path-regex '^/api/v1/(auth/(me|password|totp/|sessions)|apikeys$|users/\{id\}/reset-link$)' \
  --exclude-name 'DELETE /api/v1/auth/sessions/{id}' \
  || status=1

# What the server saw, from its own metrics: requests per route and status (so a run
# that only met 401s would show), and its count of 5xx answers, which must be 0.
KEY="$key" python3 - "$base" <<'PY' || status=1
import collections, os, re, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/metrics", headers={"Authorization": "Bearer " + os.environ["KEY"]})
text = urllib.request.urlopen(req, timeout=30).read().decode()
seen = collections.defaultdict(dict)
errors = 0.0
for line in text.splitlines():
    m = re.match(r'\w*http_requests_total\{(.*)\} (\S+)', line)
    if m:
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        seen[f'{labels.get("method")} {labels.get("route")}'][labels.get("status")] = int(float(m.group(2)))
    m = re.match(r'\w*http_server_errors_total (\S+)', line)
    if m:
        errors = float(m.group(1))
probes = [op for op in seen if set(seen[op]) == {"405"}]
print(f"== answers per operation (status: count); {len(probes)} probes of undeclared methods got 405")
for op in sorted(set(seen) - set(probes)):
    print(f"  {op}: " + ", ".join(f"{s}: {n}" for s, n in sorted(seen[op].items())))
print(f"== 5xx answers counted by the server: {int(errors)}")
sys.exit(1 if errors else 0)
PY

if grep -q 'panicked\|"level":"ERROR"\| ERROR ' "$work/serve.log"; then
  echo "== the server logged errors:"
  grep 'panicked\|"level":"ERROR"\| ERROR ' "$work/serve.log" | head -n 50
  status=1
fi
[ "$status" -eq 0 ] && echo "== the API matches its OpenAPI document"
exit "$status"
