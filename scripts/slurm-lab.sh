#!/usr/bin/env bash
# slurm-lab.sh — a real multi-node Slurm on this one machine, for noderun's
# integration tests and for trying noderun without a cluster.
#
#   scripts/slurm-lab.sh start  [--nodes N] [--cpus C] [--kill-wait S] [--proctrack T] [--dir DIR]
#                               [--port-base P] [--pmix]
#   scripts/slurm-lab.sh stop   [--dir DIR]
#   scripts/slurm-lab.sh status [--dir DIR]
#   scripts/slurm-lab.sh env    [--dir DIR]      eval "$(scripts/slurm-lab.sh env)"
#   scripts/slurm-lab.sh fail-node   --node nX [--dir DIR]
#   scripts/slurm-lab.sh revive-node --node nX [--dir DIR]
#
# What it runs: Debian's Slurm 22.05 (installed when missing), one munged with
# a private key and socket, one slurmctld, and N `slurmd -N nX` processes, one
# per node, each on its own port (P+1..P+N; slurmctld on P). Nodes n1..nN have
# C CPUs (default 4) and 4 fake GPUs each (GRES files are character devices
# aliasing /dev/null), so `--gpus-per-node=4` gives CUDA_VISIBLE_DEVICES=0,1,2,3.
# A node runs at most C tasks at once: `--nodes 32 --cpus 32` fits 1,024
# one-CPU tasks. The CPUs are Slurm's count only (nothing binds to them), so
# C may exceed this host's cores.
# All nodes share this host and its filesystem: a task's node is
# SLURMD_NODENAME, never `hostname`. Jobs run as root. No cgroups, no systemd,
# no accounting (follow jobs with squeue/scontrol, not sacct).
#
# Everything lives under DIR (default $NODERUN_LAB_DIR or
# /tmp/noderun-slurm-lab): etc/slurm.conf, etc/gres.conf, munge/, state/,
# spool/<node>/, log/, run/. `start` records the pid of every daemon it starts
# in DIR/run/lab.pids; `stop` signals exactly those pids (after checking that
# each still runs with this lab's files) and nothing else.
#
# Timing the tests rely on:
#   KillWait=2        scancel / time limit: SIGTERM, then SIGKILL 2 s later.
#                     Real clusters often use 30 s (Slurm's default; --kill-wait
#                     30 plays one); noderun's kill grace must stay below it,
#                     and tests show results are written in time.
#   MinJobAge=5       a finished job leaves squeue 5..60 s after it ends (and
#                     `sbatch --wait` keeps polling every 2 s).
#   OverTimeLimit=0, InactiveLimit=0, batch_sched_delay=0, cred_expire=10
#                     (a requeued job may restart 10 s after it ended).
#   MpiDefault=none   steps get no PMI unless they ask. `srun --mpi=pmix` needs
#                     the lab started with --pmix (installs libpmix-dev: Slurm
#                     dlopens the unversioned libpmix.so, which only the -dev
#                     package ships; about 10 s more on a fresh machine).
#   SlurmdTimeout=10  a node whose slurmd stopped answering is DOWN 15-30 s
#                     later and its jobs end in NODE_FAIL (fail-node).
# A time limit is enforced by slurmctld's 30 s timer: `--time=1` ends 60-90 s in.
#
# Partitions: lab (default, every node) and small (every node, MaxNodes=1;
# EnforcePartLimits=NO lets a bigger job in, to pend for PartitionNodeLimit).
#
# fail-node kills one node as a power cut would: SIGKILL to its slurmd, to
# every slurmstepd that logs to its log file and to their descendants (the
# node's tasks). revive-node starts its slurmd again (recorded in lab.pids)
# and resumes the node, waiting until it is idle.
#
# `start` is idempotent: on a running lab (every recorded daemon alive and
# sinfo answering with the same node count) it does nothing; a half-dead lab
# is stopped and started again. Each start wipes Slurm's saved state, so job
# ids begin at 1.
#
# Environment: NODERUN_LAB_DIR (default dir), NODERUN_LAB_PORT_BASE (default
# 17000), NODERUN_LAB_CPUS (default CPUs per node, 4), NODERUN_LAB_TIMEOUT
# (seconds to wait for idle nodes, default 30), NODERUN_LAB_PMIX=1 (same as
# --pmix).
set -euo pipefail

SLURM_PACKAGES=(slurmctld slurmd slurm-client munge)
readonly GPUS_PER_NODE=4
readonly REAL_MEMORY=2048 # MB per node; memory is not a consumable resource here
readonly DAEMON_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

prog=$(basename "$0")

usage() {
	cat <<EOF
usage: $prog {start|stop|status|env|fail-node|revive-node} [--nodes N] [--cpus C] [--kill-wait S]
       [--proctrack T] [--dir DIR] [--port-base P] [--pmix] [--node nX]

  start    install Slurm and munge if missing, start the lab, wait until every
           node is idle (no-op when the lab already runs)
  stop     cancel the lab's jobs, stop exactly the daemons 'start' started
  status   show the lab's daemons and nodes; exit 0 only when it is healthy
  env      print the shell lines that point Slurm commands at the lab:
             eval "\$($prog env)"
  fail-node    SIGKILL node --node's slurmd, slurmstepds and tasks (a power cut)
  revive-node  start node --node's slurmd again and resume it, until idle

  --nodes N      number of nodes n1..nN (default 4; 4 fake GPUs each)
  --cpus C       CPUs per node, the most tasks a node runs at once (default
                 \$NODERUN_LAB_CPUS or 4; e.g. --nodes 32 --cpus 32 for 1,024 tasks)
  --kill-wait S  seconds from a cancel's SIGTERM to its SIGKILL (Slurm's
                 KillWait; default 2, which the tests rely on; real clusters: 30)
  --proctrack T  how slurmstepd finds a task's processes: linuxproc (default:
                 every descendant, by scanning /proc) or pgid (the task's
                 process group only). All nodes share this host's /proc, so
                 with linuxproc each node's scan reads every node's processes;
                 pgid keeps a node's cost to its own tasks, as cgroups do on a
                 cluster, but misses a child in a process group of its own:
                 noderun runs pytest in one, so Slurm alone cannot kill it
                 (benchmarks only; the tests need linuxproc and KillWait 2)
  --dir DIR      lab folder (default \$NODERUN_LAB_DIR or /tmp/noderun-slurm-lab)
  --port-base P  slurmctld listens on P, node k's slurmd on P+k
                 (default \$NODERUN_LAB_PORT_BASE or 17000)
  --pmix         also install libpmix-dev so that 'srun --mpi=pmix' works
                 (default \$NODERUN_LAB_PMIX; MpiDefault stays none)
  --node nX      the node of fail-node and revive-node
EOF
}

die() {
	echo "$prog: $*" >&2
	exit 1
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# ---------------------------------------------------------------- arguments

[[ $# -ge 1 ]] || {
	usage >&2
	exit 2
}
cmd=$1
shift
nodes=4
cpus=${NODERUN_LAB_CPUS:-4}
kill_wait=2
proctrack=linuxproc
dir=${NODERUN_LAB_DIR:-/tmp/noderun-slurm-lab}
port_base=${NODERUN_LAB_PORT_BASE:-17000}
wait_s=${NODERUN_LAB_TIMEOUT:-30}
pmix=${NODERUN_LAB_PMIX:-0}
node=""
while [[ $# -gt 0 ]]; do
	case $1 in
	--nodes) nodes=${2:?--nodes needs a value}; shift 2 ;;
	--nodes=*) nodes=${1#*=}; shift ;;
	--cpus) cpus=${2:?--cpus needs a value}; shift 2 ;;
	--cpus=*) cpus=${1#*=}; shift ;;
	--kill-wait) kill_wait=${2:?--kill-wait needs a value}; shift 2 ;;
	--kill-wait=*) kill_wait=${1#*=}; shift ;;
	--proctrack) proctrack=${2:?--proctrack needs a value}; shift 2 ;;
	--proctrack=*) proctrack=${1#*=}; shift ;;
	--dir) dir=${2:?--dir needs a value}; shift 2 ;;
	--dir=*) dir=${1#*=}; shift ;;
	--port-base) port_base=${2:?--port-base needs a value}; shift 2 ;;
	--port-base=*) port_base=${1#*=}; shift ;;
	--pmix) pmix=1; shift ;;
	--node) node=${2:?--node needs a value}; shift 2 ;;
	--node=*) node=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "$prog: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done
case $cmd in start | stop | status | env | fail-node | revive-node) ;; -h | --help | help) usage; exit 0 ;; *)
	echo "$prog: unknown command '$cmd'" >&2
	usage >&2
	exit 2
	;;
esac
[[ $nodes =~ ^[1-9][0-9]?$ ]] || { echo "$prog: --nodes '$nodes': give a number from 1 to 99" >&2; exit 2; }
[[ $cpus =~ ^[1-9][0-9]{0,2}$ ]] && ((cpus <= 256)) || { echo "$prog: --cpus '$cpus': give a number from 1 to 256" >&2; exit 2; }
[[ $kill_wait =~ ^[1-9][0-9]{0,2}$ ]] && ((kill_wait <= 600)) || { echo "$prog: --kill-wait '$kill_wait': give whole seconds from 1 to 600" >&2; exit 2; }
[[ $proctrack == linuxproc || $proctrack == pgid ]] || { echo "$prog: --proctrack '$proctrack': give linuxproc or pgid" >&2; exit 2; }
[[ $port_base =~ ^[1-9][0-9]{3,4}$ ]] && ((port_base + nodes < 65536)) ||
	{ echo "$prog: --port-base '$port_base': give a port from 1000 to $((65535 - nodes))" >&2; exit 2; }
[[ $pmix == 1 ]] && SLURM_PACKAGES+=(libpmix-dev)
[[ $wait_s =~ ^[1-9][0-9]*$ ]] || { echo "$prog: NODERUN_LAB_TIMEOUT='$wait_s': give whole seconds" >&2; exit 2; }
[[ $dir == /* ]] || dir=$PWD/$dir
dir=${dir%/}
# slurm.conf has no quoting: a path with blanks, '#', '%' or '=' would be misread.
[[ $dir =~ ^/[A-Za-z0-9._/+-]+$ ]] ||
	{ echo "$prog: --dir '$dir': use a path of letters, digits and ._+-/ only (slurm.conf cannot quote)" >&2; exit 2; }

conf=$dir/etc/slurm.conf
pids_file=$dir/run/lab.pids
munge_sock=$dir/munge/munge.sock
if ((nodes == 1)); then nodelist=n1; else nodelist="n[1-$nodes]"; fi

# Slurm commands run by this script talk to the lab, never to a system Slurm.
export SLURM_CONF=$conf

# ---------------------------------------------------------------- processes

# is_ours PID: the process runs and its command line names this lab's files,
# so a recycled pid is never signalled.
is_ours() {
	local pid=$1 cmdline
	[[ -r /proc/$pid/cmdline ]] || return 1
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	[[ $cmdline == *"$dir/"* ]]
}

# recorded_pids prints "name pid" lines of the daemons 'start' recorded.
recorded_pids() {
	[[ -f $pids_file ]] && cat "$pids_file" || true
}

# lab_setting KEY: a setting `start` recorded in run/lab.conf; for a lab
# written before that option existed, its value then (cpus 4, kill_wait 2,
# proctrack linuxproc); nothing when there is none.
lab_setting() {
	local v
	v=$(sed -n "s/^$1=//p" "$dir/run/lab.conf" 2>/dev/null || true)
	if [[ -z $v ]]; then
		case $1 in
		cpus) v=4 ;;
		kill_wait) v=2 ;;
		proctrack) v=linuxproc ;;
		esac
	fi
	printf '%s\n' "$v"
}

# lab_health: 0 = running (every daemon alive, sinfo answers with all nodes),
# 1 = nothing recorded, 2 = half dead, not answering, or of other settings.
lab_health() {
	local name pid n=0 want
	[[ -s $pids_file ]] || return 1
	[[ $(lab_setting nodes) == "$nodes" ]] || return 2
	[[ $(lab_setting cpus) == "$cpus" ]] || return 2
	[[ $(lab_setting kill_wait) == "$kill_wait" ]] || return 2
	[[ $(lab_setting proctrack) == "$proctrack" ]] || return 2
	# slurmd loads the PMIx plugin when it starts: a lab started without the
	# library cannot gain it later.
	if [[ $pmix == 1 ]]; then grep -qx 'pmix=1' "$dir/run/lab.conf" || return 2; fi
	while read -r name pid; do
		is_ours "$pid" || return 2
		n=$((n + 1))
	done < <(recorded_pids)
	((n == nodes + 2)) || return 2
	[[ $(timeout 10 sinfo -h -N -p lab -o %N 2>/dev/null | sort -u | wc -l) -eq $nodes ]] || return 2
}

# spawn NAME CMD...: start a daemon in its own session with a clean
# environment, its output in log/NAME.out, and record its pid. In a
# non-interactive shell a background job is no process-group leader, so
# setsid execs in place and $! is the daemon itself.
spawn() {
	local name=$1
	shift
	# 9>&-: the lock must not outlive this script inside the daemons.
	setsid env -i PATH="$DAEMON_PATH" LANG=C.UTF-8 SLURM_CONF="$conf" "$@" \
		</dev/null >"$dir/log/$name.out" 2>&1 9>&- &
	echo "$name $!" >>"$pids_file"
}

tail_logs() {
	local f
	for f in "$dir"/log/*.out "$dir"/log/*.log "$dir"/munge/munged.log; do
		[[ -s $f ]] || continue
		echo "---- $f (last 15 lines)" >&2
		tail -n 15 "$f" >&2
	done
}

# stop_lab: cancel the lab's jobs (so no job step outlives its slurmd), then
# TERM the recorded daemons, slurmd first and munged last, KILL what is left
# after 10 s.
stop_lab() {
	local name pid ctld_pid="" jobs i
	local -a mine=()
	while read -r name pid; do
		is_ours "$pid" || continue
		[[ $name == slurmctld ]] && ctld_pid=$pid
		mine+=("$name:$pid")
	done < <(recorded_pids)
	if [[ -n $ctld_pid ]]; then
		jobs=$(timeout 10 squeue -h -o %A 2>/dev/null || true)
		if [[ -n $jobs ]]; then
			echo "$prog: cancelling jobs $(echo $jobs)" >&2
			# shellcheck disable=SC2086
			timeout 10 scancel $jobs 2>/dev/null || true
			# KillWait, and 8 s more, for the jobs to leave.
			local kw
			kw=$(lab_setting kill_wait)
			for ((i = 0; i < (kw + 8) * 10; i++)); do
				[[ -z $(timeout 5 squeue -h -o %A 2>/dev/null || true) ]] && break
				sleep 0.1
			done
		fi
	fi
	local order
	for order in slurmd slurmctld munged; do
		local -a group=()
		for i in "${mine[@]}"; do
			name=${i%%:*} pid=${i##*:}
			[[ $name == "$order"* ]] || continue
			kill -TERM "$pid" 2>/dev/null || true
			group+=("$pid")
		done
		((${#group[@]})) || continue
		for ((i = 0; i < 100; i++)); do
			local alive=0
			for pid in "${group[@]}"; do is_ours "$pid" && alive=1; done
			((alive)) || break
			sleep 0.1
		done
		for pid in "${group[@]}"; do
			if is_ours "$pid"; then
				echo "$prog: pid $pid ($order) ignored SIGTERM for 10 s; sending SIGKILL" >&2
				kill -KILL "$pid" 2>/dev/null || true
			fi
		done
	done
	rm -f "$pids_file" "$munge_sock"
}

# ---------------------------------------------------------------- install

need_root() {
	[[ $(id -u) -eq 0 ]] && return 0
	if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		exec sudo -n NODERUN_LAB_DIR="$dir" NODERUN_LAB_PORT_BASE="$port_base" \
			NODERUN_LAB_TIMEOUT="$wait_s" NODERUN_LAB_PMIX="$pmix" NODERUN_LAB_CPUS="$cpus" "$0" "$cmd" --nodes "$nodes" ${node:+--node "$node"}
	fi
	die "'$cmd' needs root (the lab runs Slurm with SlurmUser=root and munged as user munge). Run:
  sudo $0 $cmd --nodes $nodes --cpus $cpus --dir $dir"
}

install_packages() {
	local p
	local -a missing=()
	for p in "${SLURM_PACKAGES[@]}"; do
		[[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	command -v apt-get >/dev/null ||
		die "missing packages ${missing[*]} and no apt-get: install Slurm 22.05 (slurmctld, slurmd, client commands) and munge by hand"
	local t0 aptlog
	t0=$(now)
	aptlog=$(mktemp)
	echo "$prog: installing ${missing[*]} (apt-get, --no-install-recommends)" >&2
	export DEBIAN_FRONTEND=noninteractive
	# A fresh image has empty package lists; update only then.
	if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
		apt-get update >"$aptlog" 2>&1 || { tail -n 20 "$aptlog" >&2; die "apt-get update failed"; }
	fi
	if ! apt-get install -y --no-install-recommends "${missing[@]}" >>"$aptlog" 2>&1; then
		tail -n 30 "$aptlog" >&2
		die "apt-get install ${missing[*]} failed (see above)"
	fi
	rm -f "$aptlog"
	echo "$prog: installed in $(elapsed "$t0")s" >&2
}

# ---------------------------------------------------------------- config

write_config() {
	local k shorthost
	rm -rf "$dir/etc" "$dir/state" "$dir/spool" "$dir/dev" "$dir/munge" "$dir/run" "$dir/tmp"
	mkdir -p "$dir/etc" "$dir/state" "$dir/log" "$dir/run" "$dir/dev" "$dir/munge"
	# Logs of an earlier lab would mislead whoever reads the tails.
	rm -f "$dir"/log/*.log "$dir"/log/*.out
	for ((k = 1; k <= nodes; k++)); do mkdir -p "$dir/spool/n$k" "$dir/tmp/n$k"; done
	# Fake GPUs: gres needs character devices; c 1 3 is /dev/null's.
	for ((k = 0; k < GPUS_PER_NODE; k++)); do
		mknod -m 666 "$dir/dev/nvidia$k" c 1 3
	done
	printf 'nodes=%s\ncpus=%s\nkill_wait=%s\nproctrack=%s\nport_base=%s\npmix=%s\n' \
		"$nodes" "$cpus" "$kill_wait" "$proctrack" "$port_base" "$pmix" >"$dir/run/lab.conf"
	shorthost=$(hostname -s 2>/dev/null || hostname)

	cat >"$conf" <<EOF
# Written by scripts/slurm-lab.sh; rewritten on every start.
ClusterName=noderunlab
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port_base
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$munge_sock,cred_expire=10
StateSaveLocation=$dir/state
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdSpoolDir=$dir/spool/%n
SlurmdPidFile=$dir/run/slurmd-%n.pid
SlurmdLogFile=$dir/log/slurmd-%n.log
# Per node: PMIx puts its per-step folders under TmpFS, named by job and step
# only, so nodes that share /tmp would collide.
TmpFS=$dir/tmp/%n
SlurmctldDebug=info
SlurmdDebug=info
SlurmdParameters=config_overrides
# No cgroups, no systemd on a CI box.
ProctrackType=proctrack/$proctrack
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
ReturnToService=2
# Short timers make the tests fast; they rely on KillWait=2 (--kill-wait, default 2).
KillWait=$kill_wait
# A lost node is DOWN 15-30 s after its slurmd stops answering (pings every SlurmdTimeout/3).
SlurmdTimeout=10
OverTimeLimit=0
InactiveLimit=0
MinJobAge=5
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,bf_interval=2
# A job over its partition's MaxNodes is accepted and pends for PartitionNodeLimit.
EnforcePartLimits=NO
# This host is $shorthost; every node is a slurmd on localhost with its own port.
NodeName=$nodelist NodeHostname=localhost NodeAddr=127.0.0.1 Port=$((port_base + 1))-$((port_base + nodes)) CPUs=$cpus RealMemory=$REAL_MEMORY Gres=gpu:$GPUS_PER_NODE State=UNKNOWN
PartitionName=lab Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=small Nodes=ALL MaxNodes=1 MaxTime=INFINITE State=UP
EOF
	cat >"$dir/etc/gres.conf" <<EOF
AutoDetect=off
NodeName=$nodelist Name=gpu File=$dir/dev/nvidia[0-$((GPUS_PER_NODE - 1))]
EOF

	# munge refuses keys and sockets that others could write.
	chmod 0755 "$dir" "$dir/munge"
	mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null 2>&1 ||
		dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
	chown -R munge:munge "$dir/munge"
	chmod 0400 "$dir/munge/munge.key"
}

# ---------------------------------------------------------------- start

start_lab() {
	local t0 k name pid i state
	t0=$(now)
	: >"$pids_file"

	spawn munged setpriv --reuid=munge --regid=munge --init-groups \
		munged --foreground --key-file="$dir/munge/munge.key" --socket="$munge_sock" \
		--pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed" \
		--log-file="$dir/munge/munged.log"
	for ((i = 0; ; i++)); do
		munge -S "$munge_sock" -n 2>/dev/null | unmunge -S "$munge_sock" >/dev/null 2>&1 && break
		((i < 10 * wait_s)) || fail_start "munged did not answer on $munge_sock within ${wait_s}s"
		check_alive
		sleep 0.1
	done

	spawn slurmctld slurmctld -D -c -i -f "$conf"
	for ((k = 1; k <= nodes; k++)); do
		spawn "slurmd-n$k" slurmd -D -N "n$k" -f "$conf"
	done

	for ((i = 0; ; i++)); do
		state=$(timeout 5 sinfo -h -N -p lab -o '%N %t' 2>/dev/null | sort -u || true)
		[[ $(grep -c ' idle$' <<<"$state") -eq $nodes ]] && break
		((i < 10 * wait_s)) || fail_start "not every node became idle within ${wait_s}s; sinfo says:
${state:-(no answer)}"
		check_alive
		sleep 0.1
	done
	echo "$prog: lab up in $(elapsed "$t0")s: $nodes nodes ($nodelist) x $cpus CPUs x $GPUS_PER_NODE GPUs, SLURM_CONF=$conf" >&2
}

# check_alive fails the start when a daemon it spawned has exited. Only
# liveness is checked: just after the fork the child may still carry this
# script's command line, so is_ours would misjudge it.
check_alive() {
	local name pid state
	while read -r name pid; do
		state=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$pid/stat" 2>/dev/null || true)
		[[ -n $state && $state != Z ]] || fail_start "$name (pid $pid) exited during start"
	done < <(recorded_pids)
}

fail_start() {
	# Stop first: printing may fail (a closed pipe) and must not leave daemons.
	stop_lab
	echo "$prog: start failed: $*" >&2
	tail_logs
	exit 1
}

# check_ports fails early, and clearly, when another lab or service listens
# on a port this lab needs.
check_ports() {
	local port
	for ((port = port_base; port <= port_base + nodes; port++)); do
		if (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			die "port $port is in use (another lab?): stop it or pick other ports with --port-base or NODERUN_LAB_PORT_BASE"
		fi
	done
}

# ---------------------------------------------------------------- nodes

check_node() {
	[[ $node =~ ^n[1-9][0-9]?$ ]] || die "$cmd: give --node nX, a node of the lab"
	nodes=$(lab_setting nodes)
	[[ -n $nodes ]] && ((${node#n} <= nodes)) || die "$cmd: no node $node in the lab at $dir"
}

# descendants PID prints the pids of PID's descendants.
descendants() {
	local p
	for p in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		echo "$p"
		descendants "$p"
	done
}

# fail_node SIGKILLs the node's slurmd, the slurmstepds that log to the
# node's log file (each node's slurmd and stepds share it) and their
# descendants, all at once, as a power cut would.
fail_node() {
	local name pid p
	local -a victims=()
	while read -r name pid; do
		[[ $name == "slurmd-$node" ]] && is_ours "$pid" && victims+=("$pid")
	done < <(recorded_pids)
	for p in $(pgrep -x slurmstepd || true); do
		if ls -l "/proc/$p/fd" 2>/dev/null | grep -q " -> $dir/log/slurmd-$node.log\$"; then
			victims+=("$p")
			mapfile -t -O "${#victims[@]}" victims < <(descendants "$p")
		fi
	done
	((${#victims[@]})) || die "fail-node: node $node has no slurmd running"
	kill -KILL "${victims[@]}" 2>/dev/null || true
	echo "$prog: node $node failed: killed ${victims[*]}" >&2
}

# revive_node starts the node's slurmd again, records it in place of the
# dead one, and resumes the node until sinfo shows it idle.
revive_node() {
	local name pid i state
	while read -r name pid; do
		[[ $name == "slurmd-$node" ]] && is_ours "$pid" && die "revive-node: $node's slurmd (pid $pid) still runs"
	done < <(recorded_pids)
	sed -i "/^slurmd-$node /d" "$pids_file"
	spawn "slurmd-$node" slurmd -D -N "$node" -f "$conf"
	for ((i = 0; ; i++)); do
		state=$(timeout 5 sinfo -h -n "$node" -o '%t' 2>/dev/null || true)
		[[ $state == idle ]] && break
		# ReturnToService=2 returns a node that registers; resume one that stays down.
		((i % 20 == 10)) && timeout 5 scontrol update nodename="$node" state=resume 2>/dev/null || true
		((i < 10 * wait_s)) || die "revive-node: $node is '$state', not idle, ${wait_s}s after its slurmd started"
		sleep 0.1
	done
	echo "$prog: node $node revived" >&2
}

# ---------------------------------------------------------------- commands

# with_lock serialises start and stop on one lab. It also refuses a folder
# that holds anything but a lab, because start rewrites DIR/etc and friends.
with_lock() {
	if [[ -d $dir && ! -e $dir/.noderun-slurm-lab && -n $(ls -A "$dir") ]]; then
		die "--dir $dir is not empty and holds no lab (no .noderun-slurm-lab marker): pick an empty or new folder"
	fi
	mkdir -p "$dir/log" "$dir/run"
	touch "$dir/.noderun-slurm-lab"
	exec 9>"$dir/.lock"
	flock -w 120 9 || die "another $prog holds $dir/.lock for over 120 s"
}

case $cmd in
env)
	printf 'export SLURM_CONF=%q\n' "$conf"
	printf 'export NODERUN_SLURM_LAB=%q\n' "$dir"
	;;
status)
	[[ -s $pids_file ]] || { echo "lab $dir: not running"; exit 1; }
	recorded=$(lab_setting nodes)
	nodes=${recorded:-$nodes}
	cpus=$(lab_setting cpus)
	kill_wait=$(lab_setting kill_wait)
	proctrack=$(lab_setting proctrack)
	while read -r name pid; do
		if is_ours "$pid"; then echo "$name pid $pid running"; else echo "$name pid $pid GONE"; fi
	done < <(recorded_pids)
	echo "settings: $nodes nodes x $cpus CPUs, KillWait=$kill_wait, proctrack/$proctrack"
	timeout 10 sinfo -N -p lab -o '%N %t %c %G' 2>&1 || true
	if lab_health; then echo "lab $dir: running"; else echo "lab $dir: unhealthy (run: $0 start --dir $dir)"; exit 1; fi
	;;
stop)
	[[ -e $dir/.noderun-slurm-lab ]] || { echo "$prog: no lab in $dir; nothing to stop" >&2; exit 0; }
	need_root
	with_lock
	stop_lab
	echo "$prog: lab $dir stopped" >&2
	;;
fail-node | revive-node)
	[[ -e $dir/.noderun-slurm-lab ]] || die "no lab in $dir"
	need_root
	check_node
	with_lock
	if [[ $cmd == fail-node ]]; then fail_node; else revive_node; fi
	;;
start)
	need_root
	with_lock
	rc=0
	lab_health || rc=$?
	if ((rc == 0)); then
		echo "$prog: lab $dir already running ($nodes nodes x $cpus CPUs)" >&2
		exit 0
	fi
	if ((rc == 2)); then
		echo "$prog: lab $dir is half dead or has other settings (size, KillWait, proctrack); restarting it" >&2
		stop_lab
	fi
	install_packages
	check_ports
	write_config
	start_lab
	;;
esac
