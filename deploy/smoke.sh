#!/usr/bin/env bash
# The compose topology, by hand, on one machine whose Docker can only use the host network
# (no Docker Hub, no bridge networks, no compose plugin): a Ray head container, a Ray worker
# container and an API container (itself a Ray node without CPUs) from the capplan-cluster
# image, and the host's PostgreSQL.
# Posts a 12-scenario sweep, checks that every row is solved and that both Ray nodes ran
# scenarios, then removes the containers and the schema.
#
#   deploy/smoke.sh [IMAGE]        (default capplan-cluster; build it as deploy/Dockerfile says)
#
# Environment: SMOKE_PG (default postgresql+psycopg://postgres@127.0.0.1:5432/test).
# Needs docker, psql and python3 on the host.  Not part of the test suite.
set -euo pipefail
image=${1:-capplan-cluster}
pg=${SMOKE_PG:-postgresql+psycopg://postgres@127.0.0.1:5432/test}
psql_url=${pg/+psycopg/}
schema="capplan_smoke_$$"
token=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ray_ports() {  # every port a node opens: the two nodes share the host's network
  echo "--node-manager-port=$(port) --object-manager-port=$(port) --dashboard-agent-listen-port=$(port)" \
       "--dashboard-agent-grpc-port=$(port) --runtime-env-agent-port=$(port) --metrics-export-port=$(port)"
}
gcs=$(port); api=$(port)
names=("smoke-head-$$" "smoke-worker-$$" "smoke-api-$$")
cleanup() {
  docker rm -fv "${names[@]}" >/dev/null 2>&1 || true
  psql "$psql_url" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
}
[ -n "${SMOKE_KEEP:-}" ] || trap cleanup EXIT
psql "$psql_url" -qc "CREATE SCHEMA $schema"
common=(--network host --shm-size=512m -e RAY_AUTH_MODE=token -e RAY_AUTH_TOKEN="$token")

# shellcheck disable=SC2046
docker run -d "${common[@]}" --name "${names[0]}" "$image" \
  ray start --head --port="$gcs" --node-ip-address=127.0.0.1 --num-cpus=1 --include-dashboard=false \
  --dashboard-port="$(port)" $(ray_ports) --disable-usage-stats --block >/dev/null
sleep 8
# shellcheck disable=SC2046
docker run -d "${common[@]}" --name "${names[1]}" "$image" \
  ray start --address="127.0.0.1:$gcs" --node-ip-address=127.0.0.1 --num-cpus=1 $(ray_ports) \
  --disable-usage-stats --block >/dev/null
# The API container joins as a Ray node without CPUs (a Ray driver attaches to a raylet of its
# own machine), then runs the service, as in compose.yaml.
docker run -d "${common[@]}" --name "${names[2]}" \
  -e CAPPLAN_RUNNER=ray -e CAPPLAN_RAY_ADDRESS="127.0.0.1:$gcs" -e CAPPLAN_PORT="$api" \
  -e CAPPLAN_DATABASE_URL="$pg" -e CAPPLAN_DATABASE_SCHEMA="$schema" -e CAPPLAN_REPLICA_ID=api-1 \
  "$image" sh -c "ray start --address=127.0.0.1:$gcs --node-ip-address=127.0.0.1 --num-cpus=0 \
    $(ray_ports) --disable-usage-stats && exec capplan serve" >/dev/null

python3 - "$api" <<'EOF'
import json, sys, time, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
def call(path, body=None):
    req = urllib.request.Request(base + path, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, json.loads(r.read()), dict(r.headers)
deadline = time.time() + 120
while True:
    try:
        status, ready, _ = call("/readyz")
        if "2 CPUs" in ready["workers"]:  # head + worker; the API node has none
            break
    except Exception:
        pass
    assert time.time() < deadline, "the API never saw both Ray CPUs"
    time.sleep(1)
print("ready:", ready["workers"])
# one cheap option (h: $1000 per 1000 tokens/s) and 40 dearer ones that are never bought: a
# ~5,000-column LP (~0.3 s) whose answer is known by hand, NPV cost = demand in dollars
perf = {"m": {"points": [{"tokens_per_s_per_user": 10, "tokens_per_s_per_unit": 1000}]}}
hw = [{"id": "h", "vendor": "v", "it_power_kw": 10, "unit_price_usd": 1000, "performance": perf}]
hw += [{"id": f"x{i}", "vendor": "v", "it_power_kw": 10, "unit_price_usd": 5000 + i, "performance": perf}
       for i in range(40)]
base_req = {"name": "smoke", "horizon": {"periods": 60, "period_months": 1},
            "economics": {"residual_value": False},
            "sites": [{"id": "s", "power_mw": 50}], "hardware": hw,
            "workloads": [{"id": "w", "model": "m", "min_tokens_per_s_per_user": 10, "demand_tokens_per_s": 5000}]}
body = {"base": base_req, "parameters": [{"path": "workloads/w/demand_tokens_per_s",
                                          "values": [1000.0 * k for k in range(1, 13)]}]}
status, job, headers = call("/v1/sweeps", body)
assert status == 202, job
loc = {k.lower(): v for k, v in headers.items()}["location"]
while job["status"] not in ("done", "failed"):
    time.sleep(0.5)
    _, job, _ = call(loc)
assert job["status"] == "done" and job["done"] == 12, job
nodes = set()
for row in job["rows"]:
    demand = row["values"]["workloads/w/demand_tokens_per_s"]
    assert row["status"] == "optimal" and abs(row["objective"] - demand) <= 1e-6 * demand, row  # hand solution
    nodes.add(call(f"/v1/plans/{row['plan_id']}")[1]["solver"]["worker"])
print(f"12 scenarios solved, objectives = demand as by hand; ran on {len(nodes)} Ray nodes: {sorted(nodes)}")
assert len(nodes) == 2, nodes
EOF
echo "smoke test passed"
