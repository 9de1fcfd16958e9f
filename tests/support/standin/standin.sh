#!/bin/sh
# A stand-in for mesos-master, mesos-agent or marathon (chosen by the name it
# runs as), for mesos-docker's tests only: Mesos and Marathon cannot be had
# today, but setup must be seen to start them with the flags it planned. It
# records its argv and environment under $MESOS_STANDIN_DIR (default
# /var/lib/mesos-standin) as <name>.args (one argument a line) and <name>.env
# (sorted), then answers the health endpoints setup probes with busybox httpd
# in the foreground, so the service manager watches a real server.
set -eu

name=${0##*/}
self=$(readlink -f "$0")
# Beside the script in a package or tarball; on PATH in an image.
bb=${self%/*}/../lib/mesos-standin/busybox
[ -x "$bb" ] || bb=$(command -v busybox) || {
  echo "$name (stand-in): no busybox next to $self or on PATH" >&2
  exit 1
}

case "$name" in
  mesos-master) prefix=MESOS_ port=${MESOS_PORT:-5050} ;;
  mesos-agent | mesos-slave) prefix=MESOS_ port=${MESOS_PORT:-5051} ;;
  marathon) prefix=MARATHON_ port=${MARATHON_HTTP_PORT:-8080} ;;
  *)
    echo "stand-in: run as mesos-master, mesos-agent or marathon, not $name" >&2
    exit 2
    ;;
esac

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
  -v port="$port" -v portfile="$www/standin/port" '
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

exec "$bb" httpd -f -p "$port" -h "$www"
