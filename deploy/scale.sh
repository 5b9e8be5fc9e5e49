#!/usr/bin/env bash
# Adds or removes one replica on the local stack started by deploy/run.sh, as `kubectl scale`
# does in the cluster:
#   deploy/scale.sh ingester +1     # a new ingester takes its share of the rooms
#   deploy/scale.sh ingester -1     # the newest one hands its rooms back, then exits
#   deploy/scale.sh windower +1     # key groups move likewise
#   deploy/scale.sh ps              # the processes, their pids and restarts
# The stack's control address: --control-addr or BILIPULSE_STACK_CONTROL_ADDR (default
# 127.0.0.1:9090, the stack's --admin-base-port).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
stack=$root/target/local/bilipulse-stack
if [[ ! -x $stack ]]; then
    echo "scale: $stack is missing: start the stack with deploy/run.sh first" >&2
    exit 1
fi
if [[ ${1:-} == ps ]]; then
    shift
    exec "$stack" ps "$@"
fi
exec "$stack" scale "$@"
