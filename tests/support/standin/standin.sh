#!/bin/sh
# A stand-in for mesos-master, mesos-agent or marathon (chosen by the name it
# runs as), for mesos-docker's tests only: Mesos and Marathon cannot be had
# today, but setup must be seen to start them with the flags it planned. It
# records its argv and environment under $MESOS_STANDIN_DIR (default
# /var/lib/mesos-standin, kept 0700, records 0600: they may hold secrets) as
# <name>.args (one argument a line) and <name>.env (sorted), then answers
# HTTP in the foreground (`busybox nc -ll`, this script answering each
# request), so the service manager watches a real server. As the real ones
# (Mesos 1.11, Marathon 1.x):
# - `--help` lists the flags it knows and an unknown one (argument or MESOS_
#   variable) stops it ("Failed to load unknown flag"); a stand-in "built
#   with SSL" (a file `with-ssl` beside its busybox) also knows the agent's
#   executor authentication flags;
# - HTTP authentication: with --authenticate_http_readonly /
#   --authenticate_http_readwrite every endpoint of that realm answers 401
#   (WWW-Authenticate: Basic realm="mesos-master-readonly", ...) unless the
#   request carries the basic credentials of a principal in the JSON file
#   (--credentials on the master, --http_credentials on the agent); /health
#   (and the master's /redirect) stay open. Marathon with --http_credentials
#   (or MESOSPHERE_HTTP_CREDENTIALS) asks for them on every path, /ping too;
# - credential files are parsed as JSON, a bad one stops it with Mesos'
#   message, one others may read gets Mesos' warning;
# - the master's --acls is parsed as Mesos parses it, and refused where Mesos
#   refuses it and also where it would skip a misspelled name (see `acls`);
# - masters are elected through ZooKeeper when MESOS_ZK names one (zk://,
#   zk://user:secret@ or file:// holding either) and zkCli.sh is there: with
#   a digest user its znodes get Mesos' ACL (anyone reads, creator all); one
#   that does not lead answers 307 to the leader (503 while none leads);
# - a Mesos built with SSL reads LIBPROCESS_SSL_* as libprocess does and,
#   with LIBPROCESS_SSL_ENABLED, its master and agent serve TLS only (with
#   socat, which must be on PATH; see "TLS" below); a plain one ignores them.
# No secret is ever printed, put on a command line or served unauthenticated.
set -eu
umask 077

name=${0##*/}
self=$(readlink -f "$0")
# Beside the script in a package or tarball (or the script itself in
# lib/mesos-standin/, run by an ELF program); on PATH in an image.
lib=${self%/*}/../lib/mesos-standin
[ -d "$lib" ] || lib=${self%/*}
bb=$lib/busybox
[ -x "$bb" ] || bb=${self%/*}/busybox
[ -x "$bb" ] || bb=$(command -v busybox) || {
  echo "$name (stand-in): no busybox next to $self or on PATH" >&2
  exit 1
}

# One HTTP exchange (run by `nc -ll -e` per connection). $www/.auth/<realm
# class> names the realm a class of endpoints asks credentials for (absent:
# open); $www/.auth/credentials holds the accepted `principal:secret` lines.
if [ "${1:-}" = --serve ]; then
  www=$2
  me_name=$3
  read -r _ path _ || exit 0
  cr=$(printf '\r')
  authz=
  while read -r header; do
    header=${header%"$cr"}
    [ -n "$header" ] || break
    case "$header" in
      [Aa][Uu][Tt][Hh][Oo][Rr][Ii][Zz][Aa][Tt][Ii][Oo][Nn]:*) authz=${header#*:} ;;
    esac
  done
  authz=${authz# }
  path=${path%%\?*}
  reply() { # reply STATUS [FILE] [HEADER]
    len=0
    [ -n "${2:-}" ] && len=$("$bb" wc -c <"$2")
    printf 'HTTP/1.1 %s\r\nContent-Length: %s\r\nConnection: close\r\n' "$1" "$len"
    [ -z "${3:-}" ] || printf '%s\r\n' "$3"
    printf '\r\n'
    [ -n "${2:-}" ] && "$bb" cat "$2"
    exit 0
  }
  # guard CLASS: answers 401 unless CLASS is open or the request carries
  # the basic credentials of a known principal (scheme `Basic`, as
  # libprocess' BasicAuthenticator reads it). Builtins only: the secret
  # reaches no command line.
  guard() {
    [ -f "$www/.auth/$1" ] || return 0
    realm=$("$bb" cat "$www/.auth/$1")
    case "$authz" in
      Basic\ *)
        pair=$(printf '%s\n' "${authz#* }" | "$bb" base64 -d 2>/dev/null || true)
        while IFS= read -r known; do
          [ -n "$pair" ] && [ "$known" = "$pair" ] && return 0
        done <"$www/.auth/credentials"
        ;;
    esac
    reply "401 Unauthorized" "" "WWW-Authenticate: Basic realm=\"$realm\""
  }
  # The stand-in's own records, readable as the realm's other endpoints are.
  case "$path" in
    /standin/args | /standin/env)
      guard readonly
      reply "200 OK" "$www$path"
      ;;
  esac
  case "$me_name" in
    marathon)
      # Marathon's basic auth covers every path, /ping too
      # (d2iq-archive/marathon#7207).
      guard readonly
      case "$path" in
        /ping) reply "200 OK" "$www/ping" ;;
        /v2/info) reply "200 OK" "$www/v2/info" ;;
      esac
      reply "404 Not Found"
      ;;
    mesos-agent | mesos-slave)
      case "$path" in
        /health | "/slave(1)/health") reply "200 OK" "$www/health" ;;
        /state | /state.json | "/slave(1)/state" | "/slave(1)/state.json")
          guard readonly
          reply "200 OK" "$www/state"
          ;;
      esac
      reply "404 Not Found"
      ;;
  esac
  # The master: /health always answers; /redirect (open) and every other
  # endpoint (after authentication) go to the leader with 307 when another
  # master leads, and answer 503 "No leader elected" while none does.
  leader=$("$bb" cat "$www/standin/leader" 2>/dev/null || true)
  me=$("$bb" cat "$www/standin/me")
  case "$path" in
    /health | /master/health) reply "200 OK" "$www/health" ;;
    /redirect | /master/redirect) ;;
    /state | /master/state | /state.json | /master/state.json) guard readonly ;;
    *) reply "404 Not Found" ;;
  esac
  [ -n "$leader" ] || reply "503 Service Unavailable" "$www/503"
  case "$path" in
    /redirect | /master/redirect) reply "307 Temporary Redirect" "" "Location: //$leader" ;;
  esac
  [ "$leader" = "$me" ] || reply "307 Temporary Redirect" "" "Location: //$leader$path"
  reply "200 OK" "$www/state"
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

# A Mesos built with SSL (--enable-ssl) has the agent's executor
# authentication flags; one built without has not (and stops on them).
ssl=false
[ -e "$lib/with-ssl" ] && ssl=true

# The flags a real Mesos 1.11 knows (a subset of apache/mesos
# docs/configuration/{master,agent,master-and-agent}.md, enough for the
# tests): `--help` lists them, and one it does not know, as a MESOS_
# variable or an argument, stops it as the real one stops.
common="advertise_ip advertise_port authenticate_http_readonly authenticate_http_readwrite \
  firewall_rules help hostname hostname_lookup http_authenticators ip ip_discovery_command \
  log_dir logbufsecs logging_level modules port quiet version work_dir zk_session_timeout"
case "$name" in
  mesos-master) known="$common acls agent_ping_timeout agent_removal_rate_limit allocator \
    authenticate_agents authenticate_frameworks authenticate_http_frameworks authenticators \
    cluster credentials framework_sorter http_framework_authenticators \
    max_agent_ping_timeouts max_completed_frameworks max_completed_tasks_per_framework \
    offer_timeout quorum registry registry_fetch_timeout roles webui_dir weights zk" ;;
  mesos-agent | mesos-slave)
    known="$common attributes authenticatee cgroups_enable_cfs cgroups_hierarchy \
    cgroups_root container_logger containerizers credential default_role docker \
    docker_config docker_stop_timeout executor_environment_variables \
    executor_registration_timeout executor_shutdown_grace_period gc_delay http_credentials \
    isolation launcher launcher_dir master recover recovery_timeout resources strict \
    switch_user systemd_enable_support systemd_runtime_directory"
    [ "$ssl" = false ] || known="$known authenticate_http_executors executor_secret_key"
    ;;
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
"$bb" mkdir -p "$www/standin" "$www/.auth"
# Records may hold secrets (an env's credentials): owner only, whatever an
# earlier run or the service manager left.
"$bb" chmod 0700 "$dir" "$www" "$www/standin" "$www/.auth"

# Whole files only: a reader never sees half a record.
put() { # put FILE (contents on stdin)
  "$bb" cat >"$1.tmp.$$"
  "$bb" chmod 0600 "$1.tmp.$$"
  "$bb" mv -f "$1.tmp.$$" "$1"
}

{
  printf '%s\n' "$0"
  for arg in "$@"; do printf '%s\n' "$arg"; done
} | put "$dir/$name.args"
"$bb" env | "$bb" sort | put "$dir/$name.env"
put "$www/standin/args" <"$dir/$name.args"
put "$www/standin/env" <"$dir/$name.env"

# The flags as the real program would see them: <PREFIX><FLAG> variables,
# overridden by --flag=value / --flag value / --flag / --no-flag arguments,
# written one `name=value` a line to $www/.flags (read by `flag` below).
# The port a flag names is the one served. Marathon's secrets stay out of
# the served state.
"$bb" rm -f "$www/.flags"
# shellcheck disable=SC2016 # the dollars are awk's
"$bb" awk -v prefix="$prefix" -v name="$name" -v host="$("$bb" hostname)" \
  -v port="$port" -v portfile="$www/standin/port" -v hostfile="$www/standin/host" \
  -v flagfile="$www/.flags" '
  function quote(s) {
    gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); gsub(/\t/, "\\t", s)
    return "\"" s "\""
  }
  function set(k, v) {
    if (k ~ /^no-/) { k = substr(k, 4); v = "false" }
    if (!(k in flag)) order[n++] = k
    flag[k] = v
  }
  BEGIN {
    # Marathon takes a toggle from a variable set empty (MARATHON_HA=).
    for (k in ENVIRON)
      if (index(k, prefix) == 1 && k != prefix "STANDIN_DIR")
        set(tolower(substr(k, length(prefix) + 1)), \
          (ENVIRON[k] == "" && name == "marathon") ? "true" : ENVIRON[k])
  }
  NR == 1 { next }
  pending != "" {
    if ($0 !~ /^--/) { set(pending, $0); pending = ""; next }
    set(pending, "true"); pending = ""
  }
  /^--[^=]+=/ { i = index($0, "="); set(substr($0, 3, i - 3), substr($0, i + 1)); next }
  /^--no-/ { set(substr($0, 3), ""); next }
  /^--/ { pending = substr($0, 3); next }
  END {
    if (pending != "") set(pending, "true")
    if (name == "marathon" && ("http_port" in flag)) port = flag["http_port"]
    if (name != "marathon" && ("port" in flag)) port = flag["port"]
    ip = ("ip" in flag) ? flag["ip"] : "127.0.0.1"
    flags = ""
    for (i = 0; i < n; i++) {
      k = order[i]
      printf "%s=%s\n", k, flag[k] >flagfile
      if (name == "marathon" && (k == "http_credentials" || k == "mesos_authentication_secret"))
        continue
      flags = flags (flags == "" ? "" : ",") quote(k) ":" quote(flag[k])
    }
    close(flagfile)
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
"$bb" touch "$www/.flags"
"$bb" chmod 0600 "$www/.flags"
port=$("$bb" cat "$www/standin/port")

# flag NAME: its value (empty when unset); is_set NAME; is_true NAME.
flag() { "$bb" sed -n "s/^$1=//p" "$www/.flags" | "$bb" tail -n 1; }
is_set() { "$bb" grep -q "^$1=" "$www/.flags"; }
is_true() {
  case "$(flag "$1")" in
    true | 1) return 0 ;;
    *) return 1 ;;
  esac
}
readable() { [ -f "$1" ] && [ -r "$1" ]; }
die() {
  echo "$*" >&2
  exit 1
}

# A small JSON reader for the stand-in's awk programs: strings (with
# \" \\ \/ \b \f \n \r \t \u00XX), numbers, literals, arrays and objects,
# into type[path], val[path], len[path] (arrays) and key[path, i] /
# nkeys[path] (objects' member names); `parse()` reads the whole input.
# shellcheck disable=SC2016 # the dollars are awk's
json_awk='
    function fail(m) { print m > "/dev/stderr"; failed = 1; exit 1 }
    function ws() { while (pos <= n && index(" \t\r\n", substr(s, pos, 1))) pos++ }
    function hexval(h,   i, v) {
      v = 0
      for (i = 1; i <= length(h); i++) {
        c = index("0123456789abcdef", tolower(substr(h, i, 1)))
        if (!c) fail("Invalid json format: bad \\u escape")
        v = v * 16 + c - 1
      }
      return v
    }
    function str(   c, out, v) {
      pos++; out = ""
      while (pos <= n) {
        c = substr(s, pos, 1); pos++
        if (c == "\"") return out
        if (c == "\\") {
          c = substr(s, pos, 1); pos++
          if (c == "n") c = "\n"; else if (c == "t") c = "\t"
          else if (c == "r") c = "\r"; else if (c == "b") c = "\b"
          else if (c == "f") c = "\f"
          else if (c == "u") {
            v = hexval(substr(s, pos, 4)); pos += 4
            if (v < 32 || v > 126) fail("Invalid json format: the stand-in reads \\u0020-\\u007e only")
            c = sprintf("%c", v)
          } else if (c != "\"" && c != "\\" && c != "/") fail("Invalid json format: bad escape \\" c)
        } else if (c < " ") fail("Invalid json format: control character in a string")
        out = out c
      }
      fail("Invalid json format: unterminated string")
    }
    function value(path,   c, k, i, t) {
      ws(); c = substr(s, pos, 1)
      if (c == "{") {
        pos++; ws()
        if (substr(s, pos, 1) == "}") { pos++; type[path] = "object"; return }
        while (1) {
          ws()
          if (substr(s, pos, 1) != "\"") fail("Invalid json format: expected a member name at offset " pos)
          k = str(); ws()
          # The member names of each object, in order, for readers that
          # check them.
          nkeys[path]++; key[path, nkeys[path]] = k
          if (substr(s, pos, 1) != ":") fail("Invalid json format: expected : at offset " pos)
          pos++
          value(path "." k)
          ws(); c = substr(s, pos, 1); pos++
          if (c == "}") { type[path] = "object"; return }
          if (c != ",") fail("Invalid json format: expected , or } at offset " (pos - 1))
        }
      }
      if (c == "[") {
        pos++; ws(); i = 0
        if (substr(s, pos, 1) == "]") { pos++; type[path] = "array"; len[path] = 0; return }
        while (1) {
          value(path "[" i "]"); i++
          ws(); c = substr(s, pos, 1); pos++
          if (c == "]") { type[path] = "array"; len[path] = i; return }
          if (c != ",") fail("Invalid json format: expected , or ] at offset " (pos - 1))
        }
      }
      if (c == "\"") { val[path] = str(); type[path] = "string"; return }
      t = substr(s, pos)
      if (match(t, /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/) || \
          match(t, /^(true|false|null)/)) {
        val[path] = substr(t, 1, RLENGTH); type[path] = "scalar"; pos += RLENGTH; return
      }
      fail("Invalid json format: unexpected character at offset " pos)
    }
    { s = s $0 "\n" }
    function parse() {
      n = length(s); pos = 1
      value("")
      ws()
      if (pos <= n) fail("Invalid json format: trailing characters at offset " pos)
      if (type[""] != "object") fail("Invalid json format: not a JSON object")
    }
'

# credentials FILE KIND FLAG: parses a Mesos credentials file as Mesos does
# (src/credentials/credentials.hpp): KIND `list` ({"credentials":[...]}) or
# `one` ({"principal":…,"secret":…}); prints `principal:secret` lines;
# warns when others may read it; stops on a bad one with Mesos' message.
credentials() {
  file=${1#file://}
  noun=credentials
  [ "$2" = one ] && noun=credential
  readable "$file" ||
    die "Failed to read $noun file '$file': No such file or not readable (see --$3 flag)"
  if [ ! -s "$file" ]; then
    [ "$2" = one ] && die "Empty credential file '$file' (see --$3 flag)"
    die "Credentials file must contain at least one credential (see --$3 flag)"
  fi
  case "$("$bb" stat -c %A "$file")" in
    *[rwx] | *[rwx]? | *[rwx]??)
      echo "W $name (stand-in)] Permissions on $noun file '$file' are too open." \
        "It is recommended that your $noun file is NOT accessible by others." >&2
      ;;
  esac
  # `principal`/`secret` are taken where the protobuf would (Credential /
  # Credentials.credentials[]).
  # shellcheck disable=SC2016 # the dollars are awk's
  "$bb" awk -v kind="$2" "$json_awk"'
    function one(path,   f) {
      if (type[path] != "object") fail("Invalid credential format: not an object")
      if (type[path ".principal"] != "string") fail("Invalid credential format: Missing required fields: principal")
      if (type[path ".secret"] != "string" && (path ".secret") in type)
        fail("Invalid credential format: secret is not a string")
      if (index(val[path ".principal"], ":")) fail("Invalid credential format: a principal with : cannot authenticate over HTTP")
      # One credential a line in the stand-in'"'"'s table: no line breaks.
      if (val[path ".principal"] val[path ".secret"] ~ /[[:cntrl:]]/)
        fail("Invalid credential format: the stand-in takes no control characters")
      print val[path ".principal"] ":" val[path ".secret"]
    }
    END {
      if (failed) exit 1
      parse()
      if (kind == "one") { one(""); exit 0 }
      if (type[".credentials"] != "array") fail("Invalid credentials format: Missing required fields: credentials")
      for (i = 0; i < len[".credentials"]; i++) one(".credentials[" i "]")
    }' "$file" 2>"$www/.auth/error" || die "$("$bb" cat "$www/.auth/error") (see --$3 flag)"
}

# The ACL kinds of a real Mesos 1.11 master, as facts: every repeated field
# of `message ACLs` in apache/mesos include/mesos/authorizer/acls.proto
# (1.11.0), each as KIND:OBJECT (the field of its object entity beside
# `principals`), `:implicit` where the proto says the object is "given
# implicitly" (type ANY or NONE only). src/setup/plan/acls.rs keeps the same
# list.
acl_kinds="register_frameworks:roles run_tasks:users reserve_resources:roles
unreserve_resources:reserver_principals create_volumes:roles
destroy_volumes:creator_principals teardown_frameworks:framework_principals
update_weights:roles get_endpoints:paths get_quotas:roles update_quotas:roles
view_frameworks:users view_tasks:users view_executors:users
access_sandboxes:users access_mesos_logs:logs:implicit view_roles:roles
view_flags:flags:implicit launch_nested_containers_as_user:users
launch_nested_containers_under_parent_with_user:users
kill_nested_containers:users wait_nested_containers:users
launch_nested_container_sessions_as_user:users
launch_nested_container_sessions_under_parent_with_user:users
attach_containers_input:users attach_containers_output:users
view_containers:users set_log_level:level:implicit remove_nested_containers:users
register_agents:agents:implicit update_maintenance_schedules:machines:implicit
get_maintenance_schedules:machines:implicit start_maintenances:machines:implicit
stop_maintenances:machines:implicit get_maintenance_statuses:machines:implicit
drain_agents:agents:implicit deactivate_agents:agents:implicit
reactivate_agents:agents:implicit mark_agents_gone:agents:implicit
launch_standalone_containers:users:implicit kill_standalone_containers:users:implicit
wait_standalone_containers:users:implicit remove_standalone_containers:users:implicit
view_standalone_containers:users:implicit
modify_resource_provider_configs:resource_providers:implicit
mark_resource_providers_gone:resource_providers:implicit
view_resource_providers:resource_providers:implicit prune_images:images:implicit
resize_volumes:roles create_block_disks:roles destroy_block_disks:roles
create_mount_disks:roles destroy_mount_disks:roles destroy_raw_disks:roles"

# acls VALUE: reads --acls as Mesos does (a JSON object, or a path, plain or
# file://, to one) into the ACLs message, and stops on what Mesos stops on:
# not JSON, a JSON type the field does not take, a rule missing its subject
# or object ("Missing required fields"). Stricter than Mesos on purpose:
# stout's JSON-to-protobuf parse skips a member name the message does not
# have and reads an unknown entity type as SOME (matching nobody), so a
# misspelled kind, field or type would silently drop a rule; the stand-in
# refuses each, so such a typo fails the tests. It also refuses a value list
# on an implicit object, which the proto says takes ANY or NONE.
acls() {
  case "$1" in
    file://* | /*)
      file=${1#file://}
      readable "$file" || die "Failed to load flag 'acls': Error reading file '$file'"
      ;;
    *)
      file=$www/.auth/acls.json
      printf '%s\n' "$1" | put "$file"
      ;;
  esac
  # shellcheck disable=SC2016 # the dollars are awk's
  "$bb" awk -v kinds="$acl_kinds" "$json_awk"'
    function entity(p, where, implicit,   i, k, t, w) {
      w = substr(where, 2)
      if (!(p in type) || type[p] == "scalar" && val[p] == "null")
        fail("Missing required fields: " w)
      if (type[p] != "object") fail("Not expecting a JSON " type[p] " for field " w)
      for (i = 1; i <= nkeys[p]; i++) {
        k = key[p, i]
        if (k != "type" && k != "values") fail("unknown field " k " in " w " (Entity has type and values)")
      }
      t = "SOME"
      if ((p ".type") in type) {
        if (type[p ".type"] != "string") fail("Not expecting a JSON " type[p ".type"] " for field " w ".type")
        t = val[p ".type"]
        if (t != "SOME" && t != "ANY" && t != "NONE") fail("unknown entity type " t " in " w " (SOME, ANY or NONE)")
      }
      if ((p ".values") in type) {
        if (type[p ".values"] != "array") fail("Not expecting a JSON " type[p ".values"] " for field " w ".values")
        for (i = 0; i < len[p ".values"]; i++)
          if (type[p ".values[" i "]"] != "string") fail("Not expecting a non-string value in " w ".values")
      }
      if (implicit && t == "SOME") fail(w " is given implicitly: its type must be ANY or NONE")
    }
    function rule(p, kind,   i, f) {
      if (type[p] != "object") fail("Not expecting a JSON " type[p] " for an element of field " kind)
      for (i = 1; i <= nkeys[p]; i++) {
        f = key[p, i]
        if (f != "principals" && f != object[kind])
          fail("unknown field " f " in " substr(p, 2) " (it has principals and " object[kind] ")")
      }
      entity(p ".principals", p ".principals", 0)
      entity(p "." object[kind], p "." object[kind], implicit[kind])
    }
    END {
      if (failed) exit 1
      nk = split(kinds, list, /[ \n]+/)
      for (i = 1; i <= nk; i++) {
        split(list[i], f, ":")
        object[f[1]] = f[2]
        implicit[f[1]] = (f[3] == "implicit")
      }
      parse()
      for (i = 1; i <= nkeys[""]; i++) {
        k = key["", i]
        if (k == "permissive") {
          if (type[".permissive"] != "scalar" || (val[".permissive"] != "true" && val[".permissive"] != "false"))
            fail("Not expecting a JSON " type[".permissive"] " for field permissive")
          continue
        }
        if (!(k in object)) fail("unknown ACL kind " k ": not a field of Mesos 1.11 ACLs (include/mesos/authorizer/acls.proto)")
        if (type["." k] != "array") fail("Not expecting a JSON " type["." k] " for field " k)
        for (j = 0; j < len["." k]; j++) rule("." k "[" j "]", k)
      }
    }' "$file" 2>"$www/.auth/error" || die "Failed to load flag 'acls': $("$bb" cat "$www/.auth/error")"
}

# authenticator REALM NAMES CREDS: as Mesos' initializeHttpAuthenticators
# (src/common/http.cpp): every name must be one it has, and `basic` needs
# credentials.
authenticator() {
  for a in $(printf %s "$2" | "$bb" tr , ' '); do
    case "$a" in
      basic)
        [ -s "$3" ] || die "Failed to create HTTP authenticator module 'basic': No credentials" \
          "provided for the default 'basic' HTTP authenticator for realm '$1'"
        ;;
      jwt) [ "$ssl" = true ] || die "Failed to create HTTP authenticator module 'jwt': HTTP" \
        "authenticator 'jwt' not found. Check the spelling (compare to 'basic') or verify that" \
        "the authenticator was loaded successfully (see --modules)" ;;
      *) die "Failed to create HTTP authenticator module '$a': HTTP authenticator '$a' not" \
        "found. Check the spelling (compare to 'basic') or verify that the authenticator was" \
        "loaded successfully (see --modules)" ;;
    esac
  done
}

creds=$www/.auth/credentials
: | put "$creds"
"$bb" rm -f "$www/.auth/readonly" "$www/.auth/readwrite"
case "$name" in
  mesos-master)
    if is_set credentials; then
      credentials "$(flag credentials)" list credentials >"$creds.new" || exit 1
      put "$creds" <"$creds.new"
      "$bb" rm -f "$creds.new"
    fi
    if { is_true authenticate_frameworks || is_true authenticate_agents; } && [ ! -s "$creds" ]; then
      echo "W $name (stand-in)] No credentials provided, authentication requests will be refused" >&2
    fi
    if is_set acls; then acls "$(flag acls)"; fi
    authenticators=$(flag http_authenticators)
    authenticators=${authenticators:-basic}
    if is_true authenticate_http_readonly; then
      authenticator mesos-master-readonly "$authenticators" "$creds"
      echo mesos-master-readonly | put "$www/.auth/readonly"
    fi
    if is_true authenticate_http_readwrite; then
      authenticator mesos-master-readwrite "$authenticators" "$creds"
      echo mesos-master-readwrite | put "$www/.auth/readwrite"
    fi
    if is_true authenticate_http_frameworks; then
      is_set http_framework_authenticators || die "Missing \`--http_framework_authenticators\`" \
        "flag. This must be used in conjunction with \`--authenticate_http_frameworks\`"
      authenticator mesos-master-scheduler "$(flag http_framework_authenticators)" "$creds"
    fi
    ;;
  mesos-agent | mesos-slave)
    if is_set credential; then
      principal=$(credentials "$(flag credential)" one credential)
      echo "I $name (stand-in)] Agent using credential for: ${principal%%:*}" >&2
    fi
    if is_set http_credentials; then
      credentials "$(flag http_credentials)" list http_credentials >"$creds.new" || exit 1
      put "$creds" <"$creds.new"
      "$bb" rm -f "$creds.new"
    fi
    authenticators=$(flag http_authenticators)
    if [ -z "$authenticators" ]; then
      authenticators=basic
      if [ "$ssl" = true ] && is_true authenticate_http_executors; then authenticators=basic,jwt; fi
    fi
    if [ "$ssl" = true ] && is_true authenticate_http_executors; then
      is_set executor_secret_key || die "--executor_secret_key must be specified when" \
        "--authenticate_http_executors is set to true"
      key=$(flag executor_secret_key)
      readable "${key#file://}" ||
        die "Failed to read the file specified by --executor_secret_key"
      authenticator mesos-agent-executor "$authenticators" "$creds"
    fi
    if is_true authenticate_http_readonly; then
      authenticator mesos-agent-readonly "$authenticators" "$creds"
      echo mesos-agent-readonly | put "$www/.auth/readonly"
    fi
    if is_true authenticate_http_readwrite; then
      authenticator mesos-agent-readwrite "$authenticators" "$creds"
      echo mesos-agent-readwrite | put "$www/.auth/readwrite"
    fi
    ;;
  marathon)
    # --http_credentials user:password, else MESOSPHERE_HTTP_CREDENTIALS
    # (Marathon's docs); the realm is --http_realm (default Mesosphere).
    pair=$(flag http_credentials)
    [ -n "$pair" ] || pair=${MESOSPHERE_HTTP_CREDENTIALS:-}
    if [ -n "$pair" ]; then
      case "$pair" in
        *:*) ;;
        *) die "marathon (stand-in): http credentials must be username:password" ;;
      esac
      printf '%s\n' "$pair" | put "$creds"
      realm=$(flag http_realm)
      echo "${realm:-Mesosphere}" | put "$www/.auth/readonly"
    fi
    # Framework authentication (MarathonConf): --mesos_authentication needs
    # a principal; the secret comes from a file or the flag, not both; the
    # driver reads the file at start, so one it cannot read stops it.
    if is_true mesos_authentication && ! is_set mesos_authentication_principal; then
      die "marathon (stand-in): --mesos_authentication needs --mesos_authentication_principal"
    fi
    if is_set mesos_authentication_secret && is_set mesos_authentication_secret_file; then
      die "marathon (stand-in): --mesos_authentication_secret and" \
        "--mesos_authentication_secret_file are mutually exclusive"
    fi
    if is_set mesos_authentication_secret_file; then
      secret=$(flag mesos_authentication_secret_file)
      if [ ! -s "$secret" ] || ! readable "$secret"; then
        die "marathon (stand-in): cannot read the Mesos authentication secret file '$secret'"
      fi
    fi
    ;;
esac

# TLS, as libprocess sets it up in a Mesos 1.11 built with SSL
# (3rdparty/libprocess/src/openssl.cpp `reinitialize`, docs/ssl.md). Only
# such a build reads LIBPROCESS_SSL_*; a plain one ignores them and serves
# HTTP. libprocess loads its known variables first (a bad boolean stops it;
# an unknown LIBPROCESS_SSL_ name is skipped, as stout's `extract` keeps
# known flags only), and with LIBPROCESS_SSL_ENABLED its port speaks TLS
# only: without downgrade a plain HTTP request gets no HTTP answer. The
# listener is socat's OPENSSL-LISTEN (busybox has no TLS server), given
# what libprocess gives its SSL_CTX: certificate, key, cipher list
# (libprocess' default unless LIBPROCESS_SSL_CIPHERS), protocol versions
# (TLS 1.2 only by default) and, with REQUIRE_(CLIENT_)CERT, client
# certificates checked against the CA. Not modelled: the deprecated SSL_
# prefix, libprocess' own hostname/IP check of client certificates, and
# downgrade (refused, labelled). Missing or unreadable files stop it with
# libprocess' EXIT message (OpenSSL 3's error code, Debian 12's OpenSSL);
# a file OpenSSL cannot parse, or a key that does not match the
# certificate, stops socat at start with OpenSSL's own error instead.
ssl_set() { eval "[ -n \"\${LIBPROCESS_SSL_$1+set}\" ]"; }
ssl_var() { eval "printf %s \"\${LIBPROCESS_SSL_$1:-}\""; }
ssl_exit() {
  echo "E $name (stand-in) openssl.cpp] EXIT with status 1: $*" >&2
  exit 1
}
ssl_unmodelled() { # ssl_unmodelled WHAT [NOTE...]
  what=$1
  shift
  die "$name (stand-in): $what is not modelled by the stand-in (test infrastructure, not Mesos)" "$@"
}
# ssl_true FLAG DEFAULT: whether the boolean flag is on (stout's parse:
# true/1, false/0; anything else stops libprocess).
ssl_true() {
  var=$(printf %s "$1" | "$bb" tr '[:lower:]' '[:upper:]')
  value=$2
  ssl_set "$var" && value=$(ssl_var "$var")
  case "$value" in
    true | 1) return 0 ;;
    false | 0) return 1 ;;
  esac
  ssl_exit "Failed to load flags from environment variables prefixed by LIBPROCESS_SSL_" \
    "or SSL_ (deprecated): Failed to load flag '$1': Failed to load value '$value':" \
    "Expecting a boolean (e.g., true or false)"
}
# fopen_error FILE: OpenSSL's "(OpenSSL error #N): STRING" for a file it
# cannot open (a system-library error: 0x80000000 | errno), or nothing.
fopen_error() {
  if [ ! -e "$1" ]; then
    echo "(OpenSSL error #2147483650): error:80000002:system library::No such file or directory"
  elif [ ! -r "$1" ]; then
    echo "(OpenSSL error #2147483661): error:8000000D:system library::Permission denied"
  fi
}
# socat_safe WHAT VALUE: VALUE goes into a socat address, where `,` `:`
# `!` quotes and blanks have meanings; the stand-in takes plain paths only.
socat_safe() {
  case "$2" in
    *[!A-Za-z0-9/._+@=-]*)
      die "$name (stand-in): $1 '$2' has characters socat's address syntax would" \
        "misread; the stand-in serves TLS from plain paths only"
      ;;
  esac
}
# The protocol range from the ENABLE_* switches (openssl.cpp's defaults:
# TLS 1.2 only); socat takes a range, so a gap is not modelled.
tls_range() {
  lo='' hi='' gap=false
  ssl_true enable_ssl_v3 false && ssl_unmodelled "LIBPROCESS_SSL_ENABLE_SSL_V3=true"
  for v in 1.0:false 1.1:false 1.2:true 1.3:false; do
    if ssl_true "enable_tls_v$(printf %s "${v%:*}" | "$bb" tr . _)" "${v#*:}"; then
      [ -z "$hi" ] || [ "$gap" = false ] || ssl_unmodelled "a gap between enabled TLS versions"
      lo=${lo:-${v%:*}} hi=${v%:*}
    elif [ -n "$hi" ]; then
      gap=true
    fi
  done
  [ -n "$hi" ] || ssl_unmodelled "every TLS version disabled"
}
tls=
if [ "$ssl" = true ] && [ "$name" != marathon ]; then
  for f in support_downgrade verify_cert verify_server_cert require_cert require_client_cert \
    verify_ipadd enable_ssl_v3 enable_tls_v1_0 enable_tls_v1_1 enable_tls_v1_2 enable_tls_v1_3; do
    ssl_true "$f" false || true
  done
  if ssl_true enabled false; then
    if ssl_true support_downgrade false; then
      ssl_unmodelled "LIBPROCESS_SSL_SUPPORT_DOWNGRADE=true" \
        "(it serves TLS only; a Mesos 1.11 built without libevent refuses it too: \"Non-libevent" \
        "SSL sockets do not support downgrade yet, see MESOS-10073\")"
    fi
    ssl_set KEY_FILE || ssl_exit "SSL requires key! NOTE: Set path with LIBPROCESS_SSL_KEY_FILE"
    ssl_set CERT_FILE ||
      ssl_exit "SSL requires certificate! NOTE: Set path with LIBPROCESS_SSL_CERT_FILE"
    scheme=legacy
    ssl_set HOSTNAME_VALIDATION_SCHEME && scheme=$(ssl_var HOSTNAME_VALIDATION_SCHEME)
    case "$scheme" in
      legacy | openssl) ;;
      *) ssl_exit "Unknown value for hostname_validation_scheme: $scheme" ;;
    esac
    require=false
    if ssl_true require_cert false || ssl_true require_client_cert false; then require=true; fi
    verify=$require
    if ssl_true verify_cert false || ssl_true verify_server_cert false; then verify=true; fi
    ca=
    if [ "$verify" = true ] && ssl_set CA_FILE; then
      ca_file=$(ssl_var CA_FILE)
      err=$(fopen_error "$ca_file")
      if [ -n "$err" ]; then
        dirs=
        ssl_set CA_DIR && dirs="DIR: $(ssl_var CA_DIR)"
        ssl_exit "Could not load CA file and/or directory $err -> FILE: $ca_file$dirs"
      fi
      socat_safe LIBPROCESS_SSL_CA_FILE "$ca_file"
      ca=",cafile=$ca_file"
    fi
    if [ "$require" = true ] && ssl_set CA_DIR; then
      socat_safe LIBPROCESS_SSL_CA_DIR "$(ssl_var CA_DIR)"
      ca="$ca,capath=$(ssl_var CA_DIR)"
    fi
    cert=$(ssl_var CERT_FILE)
    err=$(fopen_error "$cert")
    [ -z "$err" ] || ssl_exit "Could not load cert file '$cert' $err"
    key=$(ssl_var KEY_FILE)
    err=$(fopen_error "$key")
    [ -z "$err" ] || ssl_exit "Could not load key file '$key' $err"
    ciphers="AES128-SHA:AES256-SHA:RC4-SHA:DHE-RSA-AES128-SHA:DHE-DSS-AES128-SHA:DHE-RSA-AES256-SHA:DHE-DSS-AES256-SHA"
    ssl_set CIPHERS && ciphers=$(ssl_var CIPHERS)
    case "$ciphers" in *,*) ssl_unmodelled "a LIBPROCESS_SSL_CIPHERS with a comma" ;; esac
    if ssl_set ECDH_CURVES && [ "$(ssl_var ECDH_CURVES)" != auto ]; then
      ssl_unmodelled "LIBPROCESS_SSL_ECDH_CURVES other than auto"
    fi
    tls_range
    socat_safe LIBPROCESS_SSL_CERT_FILE "$cert"
    socat_safe LIBPROCESS_SSL_KEY_FILE "$key"
    socat_safe "the stand-in's path" "$self"
    socat_safe "the stand-in's records" "$www"
    socat=$(command -v socat) || die "$name (stand-in): LIBPROCESS_SSL_ENABLED asks for TLS and" \
      "the stand-in serves it with socat, which is not on PATH ($PATH); install it" \
      "(apt-get install socat). Test infrastructure, not Mesos"
    verify_peer=0
    [ "$require" = false ] || verify_peer=1
    tls="OPENSSL-LISTEN:$port,reuseaddr,fork,cert=$cert,key=$key,verify=$verify_peer$ca"
    tls="$tls,cipher=$ciphers,openssl-min-proto-version=TLS$lo,openssl-max-proto-version=TLS$hi"
    echo "I $name (stand-in)] LIBPROCESS_SSL_ENABLED: serving TLS only (TLS $lo-$hi) on port $port" >&2
  fi
fi

case "$name" in
  marathon)
    "$bb" mkdir -p "$www/v2"
    "$bb" mv -f "$www/state.json" "$www/v2/info"
    printf pong | put "$www/ping"
    ;;
  *)
    "$bb" mv -f "$www/state.json" "$www/state"
    : | put "$www/health"
    printf 'No leader elected' | put "$www/503"
    ;;
esac

serve() {
  [ -z "$tls" ] || exec "$socat" "$tls" "EXEC:$self --serve $www $name"
  exec "$bb" nc -ll -p "$port" -e "$self" --serve "$www" "$name"
}
[ "$name" = mesos-master ] || serve

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
case "$zk" in
  file://*)
    [ -r "${zk#file://}" ] || die "Failed to read the ZooKeeper URL from '${zk#file://}'"
    zk=$("$bb" cat "${zk#file://}")
    ;;
esac
"$bb" rm -f "$www/standin/leader"
case "$zk" in
  zk://*)
    if [ -x "$zkcli" ]; then
      servers=${zk#zk://}
      znode=/${servers#*/}
      servers=${servers%%/*}
      # zk://user:secret@hosts: a digest identity. As Mesos
      # (src/zookeeper/group.cpp) its znodes are then readable by anyone
      # and writable by their creator only; without one, open to all.
      auth=
      acl=world:anyone:cdrwa
      case "$servers" in
        *@*)
          auth=${servers%@*}
          servers=${servers##*@}
          acl=world:anyone:r,auth::cdrwa
          ;;
      esac
      data="{\"hostname\":\"$host\",\"port\":$port}"
      # The session: once the ensemble answers, the path (each parent in
      # turn) and the candidacy, then stdin held open for as long as this
      # master lives. The digest goes in on stdin (never an argument), and
      # the session's echo of it is dropped from its record (a line at a
      # time, as the session goes).
      (
        until "$zkcli" -server "$servers" ls / 2>&1 | "$bb" grep -q '^\[.*zookeeper'; do
          "$bb" sleep 2
        done
        # shellcheck disable=SC2016 # the dollar is awk's
        {
          "$bb" sleep 1
          [ -z "$auth" ] || printf 'addauth digest %s\n' "$auth"
          parent=
          for part in $(printf %s "${znode#/}" | "$bb" tr / ' '); do
            parent=$parent/$part
            echo "create $parent \"\" $acl"
          done
          echo "create -e -s $znode/json.info_ $data $acl"
          exec "$bb" sleep 2147483647
        } | "$zkcli" -server "$servers" 2>&1 |
          "$bb" awk 'tolower($0) !~ /addauth|digest/ { print; fflush() }' \
            >"$dir/$name.zk-session"
      ) &
      # The leader: the lowest json.info_ under the path, asked now and then
      # (anonymously: anyone may read).
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

serve
