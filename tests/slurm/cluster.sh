#!/usr/bin/env bash
# cluster.sh — a private single-node SLURM (munged + slurmctld + slurmd) for the integration tests.
#
#   source tests/slurm/cluster.sh
#   slurm_up  LOGDIR     start; exports SLURM_CONF (and H19_SLURM_DIR); returns 77 if SLURM cannot
#                        start here at all (no packages and no apt, daemons that die at once)
#   slurm_down           cancel this cluster's jobs, stop exactly the daemons slurm_up started
#                        (by PID file, after checking /proc/PID/comm), copy their logs to LOGDIR
#   slurm_wait_job JOBID TIMEOUT   poll squeue every 0.5 s until the job has left the queue
#   slurm_test_start LOGDIR        slurm_up for a test: exit 77 if it cannot start, slurm_down
#                                  on exit (trap EXIT) or when the test is killed (watchdog)
#
# The functions are safe under `set -euo pipefail`.
# or as a command: bash tests/slurm/cluster.sh up LOGDIR  /  down  (prints the SLURM_CONF to use).
#
# Everything is private to one instance, so several can run at once (CTest -j2, other checkouts):
# munged gets its own socket and key copy (slurm.conf AuthInfo=socket=...), slurmctld and slurmd
# get free TCP ports and their own state/spool/PID files under a short mktemp directory in /tmp
# (a unix socket path must stay under 108 bytes, so not under the build tree). Facts used here are
# in shared/notes/slurm-single-node.md: the node name must resolve; Debian's init scripts start
# nothing; cred_expire=10 + sched_interval=2 bring the requeue delay from ~120 s to ~12 s.

H19_SLURM_DIR=${H19_SLURM_DIR:-}
H19_SLURM_LOGDIR=${H19_SLURM_LOGDIR:-}

_slurm_log() { echo "[slurm-test] $*" >&2; }

# Install slurm-wlm and munge when missing (the packages .ci/install-deps.sh lists).
_slurm_install() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null &&
        command -v sbatch >/dev/null; then
        return 0
    fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        _slurm_log "slurm-wlm/munge are not installed and cannot be installed here (need root + apt-get)"
        return 77
    fi
    _slurm_log "installing slurm-wlm munge (apt-get)"
    # Another test may be installing at the same moment: dpkg has its own lock; wait for it.
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends \
        slurm-wlm munge >"$H19_SLURM_LOGDIR/apt.log" 2>&1 ||
        { apt-get update -q >>"$H19_SLURM_LOGDIR/apt.log" 2>&1 &&
            DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
                --no-install-recommends slurm-wlm munge >>"$H19_SLURM_LOGDIR/apt.log" 2>&1; } ||
        { _slurm_log "apt-get install slurm-wlm munge failed (see $H19_SLURM_LOGDIR/apt.log)"; return 77; }
}

# A TCP port nobody listens on, with the next one free too (slurmctld, slurmd).
_slurm_free_port_pair() {
    local used p tries
    used=$(ss -Htan 2>/dev/null | awk '{n=split($4,a,":"); print a[n]}' | sort -u) || true
    for tries in $(seq 1 200); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if ! grep -qx "$p" <<<"$used" && ! grep -qx "$((p + 1))" <<<"$used"; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# PID from a PID file if that process is alive and is the named program.
_slurm_pid_of() { # file comm
    local pid
    [ -s "$1" ] || return 1
    pid=$(tr -dc 0-9 <"$1")
    [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$2" ] && echo "$pid"
}

# Poll (every 0.2 s, up to $1 s) until the command succeeds.
_slurm_poll() {
    local t=$1 i
    shift
    for i in $(seq 1 $((t * 5))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}

slurm_up() {
    H19_SLURM_LOGDIR=$(mkdir -p "$1" && cd "$1" && pwd)
    _slurm_install || return $?
    local node d port mem cpus
    node=$(hostname -s)
    if ! getent hosts "$node" >/dev/null; then
        if [ -w /etc/hosts ]; then
            _slurm_log "adding '127.0.0.1 $node' to /etc/hosts (slurmd must resolve its node name)"
            echo "127.0.0.1 $node" >>/etc/hosts
        else
            _slurm_log "node name $node does not resolve and /etc/hosts is not writable"
            return 77
        fi
    fi
    d=$(mktemp -d /tmp/h19slurm.XXXXXX) || return 77
    chmod 755 "$d"
    H19_SLURM_DIR=$d
    export H19_SLURM_DIR H19_SLURM_LOGDIR
    mkdir -p "$d/munge" "$d/munge/etc" "$d/state" "$d/spool" "$d/log"
    # munged insists: socket directory executable by all, key readable by munge only.
    cp /etc/munge/munge.key "$d/munge/etc/key" 2>/dev/null ||
        { command -v mungekey >/dev/null && mungekey -c -k "$d/munge/etc/key"; } ||
        { _slurm_log "no munge key (/etc/munge/munge.key) and mungekey failed"; return 77; }
    chown -R munge:munge "$d/munge"
    chmod 755 "$d/munge"
    chmod 700 "$d/munge/etc"
    chmod 600 "$d/munge/etc/key"
    if ! runuser -u munge -- /usr/sbin/munged --socket="$d/munge/sock" --key-file="$d/munge/etc/key" \
        --pid-file="$d/munge/pid" --log-file="$d/munge/log" --seed-file="$d/munge/seed"; then
        _slurm_log "munged did not start: $(tail -2 "$d/munge/log" 2>/dev/null)"
        return 77
    fi
    if ! _slurm_poll 20 bash -c "munge -S '$d/munge/sock' -n | unmunge -S '$d/munge/sock'"; then
        _slurm_log "munge -n | unmunge fails on the private socket"
        return 77
    fi
    cpus=$(nproc)
    mem=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
    local attempt
    for attempt in 1 2 3; do
        port=$(_slurm_free_port_pair) || { _slurm_log "no free TCP port pair"; return 77; }
        cat >"$d/slurm.conf" <<EOF
# generated by tests/slurm/cluster.sh for one test run
ClusterName=h19t$$x$attempt
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/sock,cred_expire=10
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
SchedulerParameters=sched_interval=2,bf_interval=2
ReturnToService=2
JobRequeue=1
MinJobAge=600
KillWait=10
MailProg=/bin/true
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
        export SLURM_CONF=$d/slurm.conf
        slurmctld -c -f "$SLURM_CONF" || true
        if _slurm_poll 30 scontrol ping && _slurm_pid_of "$d/slurmctld.pid" slurmctld >/dev/null; then
            break
        fi
        _slurm_log "slurmctld did not come up on port $port (attempt $attempt): $(tail -2 "$d/log/slurmctld.log" 2>/dev/null)"
        _slurm_stop_daemon "$d/slurmctld.pid" slurmctld
        [ "$attempt" = 3 ] && return 77
    done
    slurmd -f "$SLURM_CONF" || { _slurm_log "slurmd failed: $(tail -3 "$d/log/slurmd.log")"; return 77; }
    if ! _slurm_poll 60 bash -c "sinfo -h -n '$node' -o %t | grep -qx idle"; then
        _slurm_log "node $node never became idle: $(sinfo -h -o '%t %E' 2>&1); $(tail -3 "$d/log/slurmd.log")"
        return 77
    fi
    _slurm_log "private SLURM up: SLURM_CONF=$SLURM_CONF (ports $port,$((port + 1)))"
    return 0
}

# TERM a daemon we started (PID file + /proc/PID/comm check), poll up to 15 s, then KILL it.
_slurm_stop_daemon() { # pidfile comm
    local pid i
    pid=$(_slurm_pid_of "$1" "$2") || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 75); do
        [ -d "/proc/$pid" ] || return 0
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 0
        sleep 0.2
    done
    _slurm_log "$2 ($pid) ignored TERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

slurm_down() {
    local d=$H19_SLURM_DIR i
    [ -n "$d" ] && [ -d "$d" ] || return 0
    if [ -n "${SLURM_CONF:-}" ] && _slurm_pid_of "$d/slurmctld.pid" slurmctld >/dev/null; then
        # Only this cluster's jobs: SLURM_CONF points the clients at our private slurmctld.
        local jobs
        jobs=$(squeue -h -o %A 2>/dev/null | tr '\n' ' ') || true
        if [ -n "${jobs// /}" ]; then
            # shellcheck disable=SC2086
            scancel $jobs 2>/dev/null || true
            for i in $(seq 1 100); do
                [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break
                sleep 0.2
            done
        fi
    fi
    _slurm_stop_daemon "$d/slurmd.pid" slurmd
    _slurm_stop_daemon "$d/slurmctld.pid" slurmctld
    _slurm_stop_daemon "$d/munge/pid" munged
    if [ -n "$H19_SLURM_LOGDIR" ]; then
        mkdir -p "$H19_SLURM_LOGDIR/daemons"
        cp "$d"/log/*.log "$d/slurm.conf" "$H19_SLURM_LOGDIR/daemons/" 2>/dev/null || true
        cp "$d/munge/log" "$H19_SLURM_LOGDIR/daemons/munged.log" 2>/dev/null || true
    fi
    case "$d" in /tmp/h19slurm.*) rm -rf "$d" ;; esac
    H19_SLURM_DIR=
}

# Wait until a job (or every task of an array) has left the queue; 1 on timeout.
slurm_wait_job() { # jobid timeout_seconds
    local jid=$1 t=$2 i
    for i in $(seq 1 $((t * 2))); do
        [ -z "$(squeue -h -j "$jid" -o %A 2>/dev/null)" ] && return 0
        sleep 0.5
    done
    _slurm_log "job $jid still queued after ${t}s: $(squeue -h -j "$jid" -o '%A %T %r' 2>&1)"
    return 1
}

# For a test script: start the cluster (exit 77 if SLURM cannot start here), stop it on any exit
# (trap EXIT), and also if the test is killed outright (a CTest timeout): a watchdog subshell
# polls the test's PID and runs slurm_down when it is gone.
slurm_test_start() { # LOGDIR
    local rc=0
    slurm_up "$1" || rc=$?
    if [ $rc != 0 ]; then
        slurm_down
        if [ $rc = 77 ]; then
            echo "SKIP: a private single-node SLURM cannot start on this machine (see above)"
            exit 77
        fi
        exit "$rc"
    fi
    local me=$$
    (
        trap '' INT TERM HUP
        while [ -d "/proc/$me" ]; do sleep 1; done
        slurm_down
    ) </dev/null >/dev/null 2>&1 &
    H19_SLURM_WATCHDOG=$!
    disown "$H19_SLURM_WATCHDOG" 2>/dev/null || true # no "Killed" notice when we stop it
    trap '_slurm_test_end' EXIT
}
_slurm_test_end() {
    local rc=$?
    [ -z "${H19_SLURM_WATCHDOG:-}" ] || kill -KILL "$H19_SLURM_WATCHDOG" 2>/dev/null # it ignores TERM
    slurm_down
    exit $rc
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case "${1:-}" in
    up)
        slurm_up "${2:?LOGDIR}" && echo "export SLURM_CONF=$SLURM_CONF H19_SLURM_DIR=$H19_SLURM_DIR"
        ;;
    down)
        slurm_down
        ;;
    *)
        echo "usage: cluster.sh up LOGDIR | down (with H19_SLURM_DIR and SLURM_CONF set)" >&2
        exit 2
        ;;
    esac
fi
