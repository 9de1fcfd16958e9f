#!/bin/sh
# A stand-in for mesos-master, mesos-agent or marathon (chosen by the name it
# runs as), for mesos-docker's tests only: Mesos and Marathon cannot be had
# today, but setup must be seen to start them with the flags it planned. It
# records its argv and environment under $MESOS_STANDIN_DIR (default
# /var/lib/mesos-standin) as <name>.args (one argument a line) and <name>.env
# (sorted), then answers the health endpoints setup probes in the foreground
# (busybox httpd; the master with `busybox nc -ll`, this script answering each
# request), so the service manager watches a real server. As the real ones:
# `--help` lists the flags it knows and an unknown one (argument or MESOS_
# variable) stops it ("Failed to load unknown flag"); masters are elected
# through ZooKeeper when MESOS_ZK names one and zkCli.sh is there, and one
# that does not lead answers 307 to the leader (503 while none leads).
set -eu

name=${0##*/}
self=$(readlink -f "$0")
# Beside the script in a package or tarball (or the script itself in
# lib/mesos-standin/, run by an ELF program); on PATH in an image.
bb=${self%/*}/../lib/mesos-standin/busybox
[ -x "$bb" ] || bb=${self%/*}/busybox
[ -x "$bb" ] || bb=$(command -v busybox) || {
  echo "$name (stand-in): no busybox next to $self or on PATH" >&2
  exit 1
}

# One HTTP exchange of the master (run by `nc -ll -e` per connection):
# as a real master, /health always answers; /redirect and every other
# endpoint go to the leader with 307 when another master leads, and answer
# 503 "No leader elected" while none does.
if [ "${1:-}" = --serve ]; then
  www=$2
  read -r _ path _ || exit 0
  while read -r header && [ "$(printf %s "$header" | "$bb" tr -d '\r')" != "" ]; do :; done
  path=${path%%\?*}
  leader=$("$bb" cat "$www/standin/leader" 2>/dev/null || true)
  me=$("$bb" cat "$www/standin/me")
  reply() { # reply STATUS [FILE] [HEADER]
    len=0
    [ -n "${2:-}" ] && len=$("$bb" wc -c <"$2")
    printf 'HTTP/1.1 %s\r\nContent-Length: %s\r\nConnection: close\r\n' "$1" "$len"
    [ -z "${3:-}" ] || printf '%s\r\n' "$3"
    printf '\r\n'
    [ -n "${2:-}" ] && "$bb" cat "$2"
    exit 0
  }
  case "$path" in
    /health | /master/health) reply "200 OK" ;;
    /standin/*)
      [ -f "$www$path" ] || reply "404 Not Found"
      reply "200 OK" "$www$path"
      ;;
  esac
  if [ -z "$leader" ]; then
    printf 'No leader elected' >"$www/standin/503"
    reply "503 Service Unavailable" "$www/standin/503"
  fi
  case "$path" in
    /redirect | /master/redirect) reply "307 Temporary Redirect" "" "Location: //$leader" ;;
  esac
  [ "$leader" = "$me" ] || reply "307 Temporary Redirect" "" "Location: //$leader$path"
  case "$path" in
    /state | /master/state | /state.json | /master/state.json) reply "200 OK" "$www/state" ;;
    *) reply "404 Not Found" ;;
  esac
fi

case "$name" in
  mesos-master) prefix=MESOS_ port=${MESOS_PORT:-5050} ;;
  mesos-agent | mesos-slave) prefix=MESOS_ port=${MESOS_PORT:-5051} ;;
  marathon) prefix=MARATHON_ port=${MARATHON_HTTP_PORT:-8080} ;;
  *)
    echo "stand-in: run as mesos-master, mesos-agent or marathon, not $name" >&2
    exit 2
    ;;
esac

# The flags a real Mesos 1.11 knows (a subset of apache/mesos
# docs/configuration/{master,agent,master-and-agent}.md, enough for the
# tests): `--help` lists them, and one it does not know, as a MESOS_
# variable or an argument, stops it as the real one stops.
common="advertise_ip advertise_port authenticate_http_readonly authenticate_http_readwrite \
  firewall_rules help hostname hostname_lookup http_authenticators ip ip_discovery_command \
  log_dir logbufsecs logging_level modules port quiet version work_dir zk_session_timeout"
case "$name" in
  mesos-master) known="$common acls agent_ping_timeout agent_removal_rate_limit allocator \
    authenticate_agents authenticate_frameworks cluster credentials framework_sorter \
    max_agent_ping_timeouts max_completed_frameworks max_completed_tasks_per_framework \
    offer_timeout quorum registry registry_fetch_timeout roles webui_dir weights zk" ;;
  mesos-agent | mesos-slave) known="$common attributes cgroups_enable_cfs cgroups_hierarchy \
    cgroups_root container_logger containerizers credential default_role docker \
    docker_config docker_stop_timeout executor_environment_variables \
    executor_registration_timeout executor_shutdown_grace_period gc_delay isolation \
    launcher launcher_dir master recover recovery_timeout resources strict switch_user \
    systemd_enable_support systemd_runtime_directory" ;;
  *) known= ;;
esac
if [ -n "$known" ]; then
  for arg in "$@"; do
    case "$arg" in
      --help)
        echo "Usage: $name [options]"
        echo
        for f in $known; do echo "  --$f=VALUE"; done
        exit 0
        ;;
      --*)
        f=${arg#--}
        f=${f%%=*}
        f=${f#no-}
        case " $known " in
          *" $f "*) ;;
          *)
            echo "Failed to load unknown flag '$f'" >&2
            exit 1
            ;;
        esac
        ;;
    esac
  done
  # A real Mesos loads MESOS_* from its environment and stops at the first
  # it does not know (stout's flags: "Failed to load unknown flag").
  for var in $("$bb" env | "$bb" sed -n 's/^MESOS_\([A-Z0-9_]*\)=.*/\1/p'); do
    [ "$var" = STANDIN_DIR ] && continue
    flag=$(printf %s "$var" | "$bb" tr '[:upper:]' '[:lower:]')
    case " $known " in
      *" $flag "*) ;;
      *)
        echo "Failed to load unknown flag '$flag'" >&2
        echo "Usage: $name [options]" >&2
        exit 1
        ;;
    esac
  done
fi

dir=${MESOS_STANDIN_DIR:-/var/lib/mesos-standin}
www=$dir/$name.www
"$bb" mkdir -p "$www/standin"

# Whole files only: a reader never sees half a record.
put() { # put FILE (contents on stdin)
  "$bb" cat >"$1.tmp.$$"
  "$bb" mv -f "$1.tmp.$$" "$1"
}

{
  printf '%s\n' "$0"
  for arg in "$@"; do printf '%s\n' "$arg"; done
} | put "$dir/$name.args"
"$bb" env | "$bb" sort | put "$dir/$name.env"
"$bb" cp "$dir/$name.args" "$www/standin/args"
"$bb" cp "$dir/$name.env" "$www/standin/env"

# The flags as the real program would see them: <PREFIX><FLAG> variables,
# overridden by --flag=value / --flag value / --flag arguments. The port a
# flag names is the one served.
# shellcheck disable=SC2016 # the dollars are awk's
"$bb" awk -v prefix="$prefix" -v name="$name" -v host="$("$bb" hostname)" \
  -v port="$port" -v portfile="$www/standin/port" -v hostfile="$www/standin/host" '
  function quote(s) {
    gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); gsub(/\t/, "\\t", s)
    return "\"" s "\""
  }
  function set(k, v) { if (!(k in flag)) order[n++] = k; flag[k] = v }
  BEGIN {
    for (k in ENVIRON)
      if (index(k, prefix) == 1 && k != prefix "STANDIN_DIR")
        set(tolower(substr(k, length(prefix) + 1)), ENVIRON[k])
  }
  NR == 1 { next }
  pending != "" {
    if ($0 !~ /^--/) { set(pending, $0); pending = ""; next }
    set(pending, "true"); pending = ""
  }
  /^--[^=]+=/ { i = index($0, "="); set(substr($0, 3, i - 3), substr($0, i + 1)); next }
  /^--/ { pending = substr($0, 3); next }
  END {
    if (pending != "") set(pending, "true")
    if (name == "marathon" && ("http_port" in flag)) port = flag["http_port"]
    if (name != "marathon" && ("port" in flag)) port = flag["port"]
    ip = ("ip" in flag) ? flag["ip"] : "127.0.0.1"
    flags = ""
    for (i = 0; i < n; i++)
      flags = flags (i ? "," : "") quote(order[i]) ":" quote(flag[order[i]])
    if ("hostname" in flag) host = flag["hostname"]
    common = "\"version\":\"1.11.0\",\"standin\":true,\"hostname\":" quote(host) \
      ",\"flags\":{" flags "}"
    if (name == "mesos-master") {
      pid = quote("master@" ip ":" port)
      print "{" common ",\"pid\":" pid ",\"leader\":" pid ",\"cluster\":" \
        quote(flag["cluster"]) ",\"activated_slaves\":0,\"slaves\":[],\"frameworks\":[]}"
    } else if (name == "marathon") {
      print "{\"name\":\"marathon\",\"version\":\"1.11.0\",\"standin\":true," \
        "\"marathon_config\":{" flags "},\"http_config\":{\"http_port\":" port "}}"
    } else {
      print "{" common ",\"pid\":" quote("slave(1)@" ip ":" port) \
        ",\"master_hostname\":\"\",\"frameworks\":[]}"
    }
    print port >portfile
    print host >hostfile
  }' "$dir/$name.args" | put "$www/state.json"
port=$("$bb" cat "$www/standin/port")

case "$name" in
  marathon)
    "$bb" mkdir -p "$www/v2"
    "$bb" mv -f "$www/state.json" "$www/v2/info"
    printf pong | put "$www/ping"
    ;;
  *)
    "$bb" mv -f "$www/state.json" "$www/state"
    : | put "$www/health"
    ;;
esac

[ "$name" = mesos-master ] || exec "$bb" httpd -f -p "$port" -h "$www"

# The master: elected through ZooKeeper as a real one is, when its
# MESOS_ZK names an ensemble and ZooKeeper's CLI is here (the masters
# setup makes run zookeeperd): each candidate holds an ephemeral
# sequential znode json.info_N under the path, whose data names it, in a
# zkCli session that lives as long as this master; the lowest N leads.
# Without either it leads alone, at once.
host=$("$bb" cat "$www/standin/host")
me=$host:$port
printf %s "$me" | put "$www/standin/me"
zkcli=/usr/share/zookeeper/bin/zkCli.sh
zk=${MESOS_ZK:-}
"$bb" rm -f "$www/standin/leader"
case "$zk" in
  zk://*)
    if [ -x "$zkcli" ]; then
      servers=${zk#zk://}
      znode=/${servers#*/}
      servers=${servers%%/*}
      data="{\"hostname\":\"$host\",\"port\":$port}"
      # The session: once the ensemble serves (a write goes through), the
      # candidacy, then stdin held open for as long as this master lives.
      (
        until "$zkcli" -server "$servers" create "$znode" '""' 2>&1 |
          "$bb" grep -q -e '^Created' -e 'already exists'; do
          "$bb" sleep 2
        done
        {
          "$bb" sleep 1
          echo "create -e -s $znode/json.info_ $data"
          exec "$bb" sleep 2147483647
        } | "$zkcli" -server "$servers" >"$dir/$name.zk-session" 2>&1
      ) &
      # The leader: the lowest json.info_ under the path, asked now and then.
      (
        while :; do
          first=$("$zkcli" -server "$servers" ls "$znode" 2>/dev/null |
            "$bb" grep -o 'json\.info_[0-9]*' | "$bb" sort | "$bb" head -n 1 || true)
          if [ -n "$first" ]; then
            got=$("$zkcli" -server "$servers" get "$znode/$first" 2>/dev/null |
              "$bb" sed -n 's/^{"hostname":"\([^"]*\)","port":\([0-9]*\)}$/\1:\2/p' | "$bb" head -n 1)
            [ -n "$got" ] && printf %s "$got" | put "$www/standin/leader"
          fi
          if [ -s "$www/standin/leader" ]; then "$bb" sleep 20; else "$bb" sleep 2; fi
        done
      ) &
    else
      printf %s "$me" | put "$www/standin/leader"
    fi
    ;;
  *) printf %s "$me" | put "$www/standin/leader" ;;
esac

exec "$bb" nc -ll -p "$port" -e "$self" --serve "$www"
