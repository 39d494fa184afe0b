#!/usr/bin/env bash
# A one-node SLURM cluster on localhost for tests: `scripts/slurm_local.sh up DIR` / `... down DIR`.
#
# up:   installs Debian's slurm-wlm and munge when missing (apt-get, needs root), writes DIR/slurm.conf,
#       starts munged (as the munge user), slurmctld -D and slurmd -D in the background with all state under
#       DIR, waits until the node is idle, and prints `export SLURM_CONF=DIR/slurm.conf`.
# down: stops the daemons this script started (by the PIDs recorded in DIR/*.pid), nothing else.
# Exit status 3 from `up` means slurm cannot be installed or started here (tests skip on it).
set -euo pipefail
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 up|down DIR" >&2; exit 2; }
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)

stop_pidfile() {  # stop the process recorded in $1, if it is still alive
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f"); rm -f "$f"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
}

if [ "$cmd" = down ]; then
  stop_pidfile "$dir/slurmd.pid"; stop_pidfile "$dir/slurmctld.pid"; stop_pidfile "$dir/munged.pid"
  exit 0
fi
[ "$cmd" = up ] || { echo "unknown command '$cmd'; use up or down" >&2; exit 2; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends slurm-wlm munge; } >"$dir/apt.log" 2>&1 \
      || { echo "could not install slurm-wlm/munge (see $dir/apt.log)" >&2; exit 3; }
  else
    echo "slurm-wlm/munge are not installed and cannot be installed here (need root and apt-get)" >&2; exit 3
  fi
fi

mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/munge"
# munge: own key and socket under DIR, so nothing outside DIR is touched.
if [ ! -f "$dir/munge/munge.key" ]; then
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
fi
chown -R munge: "$dir/munge" 2>/dev/null || true
chmod 700 "$dir/munge"; chmod 400 "$dir/munge/munge.key"
sock="$dir/munge/munge.socket"
runuser -u munge -- /usr/sbin/munged --key-file="$dir/munge/munge.key" --socket="$sock" \
  --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/seed" --force \
  || { echo "munged failed to start (see $dir/munge/munged.log)" >&2; exit 3; }
for _ in $(seq 50); do [ -s "$dir/munge/munged.pid" ] && break; sleep 0.1; done
cp "$dir/munge/munged.pid" "$dir/munged.pid"

host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(awk '/MemTotal/ {print int($2/1024*0.8)}' /proc/meminfo)
port=$((20000 + RANDOM % 20000))
cat >"$dir/slurm.conf" <<CONF
ClusterName=heritage-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
SlurmctldPort=$port
SlurmdPort=$((port + 1))
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.daemon.pid
SlurmdPidFile=$dir/slurmd.daemon.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$((mem_mb / cpus / 2))
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=10
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"
/usr/sbin/slurmctld -D -i -f "$SLURM_CONF" >"$dir/log/slurmctld.out" 2>&1 &
echo $! >"$dir/slurmctld.pid"
/usr/sbin/slurmd -D -f "$SLURM_CONF" -N "$host" >"$dir/log/slurmd.out" 2>&1 &
echo $! >"$dir/slurmd.pid"
for _ in $(seq 150); do
  state=$(sinfo -h -N -o '%t' 2>/dev/null | head -1 || true)
  case "$state" in idle*|mix*|alloc*) echo "export SLURM_CONF=$SLURM_CONF"; exit 0;; esac
  sleep 0.2
done
echo "slurm did not come up within 30 s (node state '${state:-none}'; logs in $dir/log)" >&2
"$0" down "$dir"; exit 3
