#!/bin/sh
# Installs mesos-docker, then runs `mesos-docker setup` with this script's
# arguments:
#
#   curl -fsSL https://github.com/mesos-docker/mesos-docker/releases/latest/download/install.sh \
#     | sudo sh -s -- --role agent --masters 10.0.0.1,10.0.0.2,10.0.0.3
#
# Every line but the last defines a function or is a comment, and the last
# line hands main the count of its arguments: a download cut anywhere runs
# nothing, not even main without its arguments.
#
# Environment:
#   MESOS_DOCKER_VERSION       release to install, e.g. 0.1.0 (default: latest)
#   MESOS_DOCKER_DOWNLOAD_URL  base URL of the releases; files are fetched from
#                              <base>/v<version>/<file>, and for `latest` from
#                              <base>/latest/<file> (a GitHub .../releases/download
#                              base uses GitHub's .../releases/latest/download/<file>)
#   MESOS_DOCKER_SHA256        the binary's expected SHA-256; with it plain HTTP is
#                              allowed, since the digest no longer comes from the server
#   MESOS_DOCKER_BINARY        a local binary to install instead of downloading
#                              (air-gapped hosts); needs MESOS_DOCKER_SHA256
#   MESOS_DOCKER_SIGNERS       an ssh allowed-signers file: SHA256SUMS must carry a
#                              valid SHA256SUMS.sig by a key listed there
#   MESOS_DOCKER_REQUIRE_SIGNATURE=1  refuse to install without that signature check
#   MESOS_DOCKER_SIGNER_IDENTITY  the signer's principal (default releases@mesos-docker)
#   MESOS_DOCKER_CA_BUNDLE     CA certificates to trust for HTTPS instead of the system's
#   MESOS_DOCKER_INSTALL_DIR   where the binary goes (default /usr/local/bin)
#   MESOS_DOCKER_SKIP_SETUP    when set (not 0), install the binary and stop
#
# POSIX sh: runs under dash and busybox sh; no `local`, so every variable
# carries the md_ prefix.

md_say() {
  printf 'mesos-docker install: %s\n' "$*" >&2
}

md_die() {
  printf 'mesos-docker install: error: %s\n' "$*" >&2
  exit 1
}

# Where releases live when MESOS_DOCKER_DOWNLOAD_URL does not say otherwise.
md_default_base_url() {
  printf '%s\n' 'https://github.com/mesos-docker/mesos-docker/releases/download'
}

md_is_sha256() {
  case $1 in
    *[!0-9a-f]*) return 1 ;;
  esac
  [ "${#1}" -eq 64 ]
}

md_read_settings() {
  md_version=${MESOS_DOCKER_VERSION:-latest}
  case $md_version in
    latest) md_tag=latest ;;
    v*) md_tag=$md_version ;;
    *) md_tag=v$md_version ;;
  esac
  case $md_version in
    *[!0-9A-Za-z.+_-]*)
      md_die "MESOS_DOCKER_VERSION='$md_version' is not a version: use e.g. 0.1.0, v0.1.0 or latest"
      ;;
  esac
  md_base=${MESOS_DOCKER_DOWNLOAD_URL:-$(md_default_base_url)}
  while :; do
    case $md_base in
      */) md_base=${md_base%/} ;;
      *) break ;;
    esac
  done

  md_pin=$(printf '%s' "${MESOS_DOCKER_SHA256:-}" | tr 'A-F' 'a-f')
  if [ -n "$md_pin" ] && ! md_is_sha256 "$md_pin"; then
    md_die "MESOS_DOCKER_SHA256='$md_pin' is not a SHA-256 digest (64 hex digits, as in SHA256SUMS)"
  fi

  md_local=${MESOS_DOCKER_BINARY:-}
  if [ -n "$md_local" ]; then
    if [ ! -f "$md_local" ] || [ ! -r "$md_local" ]; then
      md_die "MESOS_DOCKER_BINARY=$md_local: no readable file there"
    fi
    [ -n "$md_pin" ] ||
      md_die "MESOS_DOCKER_BINARY needs MESOS_DOCKER_SHA256 too: the line for the binary in the release's SHA256SUMS"
  fi

  md_ca=${MESOS_DOCKER_CA_BUNDLE:-}
  if [ -n "$md_ca" ] && [ ! -r "$md_ca" ]; then
    md_die "MESOS_DOCKER_CA_BUNDLE=$md_ca: no readable file there"
  fi

  md_signers=${MESOS_DOCKER_SIGNERS:-}
  md_identity=${MESOS_DOCKER_SIGNER_IDENTITY:-releases@mesos-docker}
  md_require_sig=${MESOS_DOCKER_REQUIRE_SIGNATURE:-0}
  case $md_require_sig in
    0 | 1) ;;
    *) md_die "MESOS_DOCKER_REQUIRE_SIGNATURE='$md_require_sig': use 1 (require) or 0" ;;
  esac
  if [ -n "$md_signers" ] && [ ! -r "$md_signers" ]; then
    md_die "MESOS_DOCKER_SIGNERS=$md_signers: no readable allowed-signers file there"
  fi
  if [ "$md_require_sig" = 1 ] && [ -z "$md_signers" ]; then
    md_die "MESOS_DOCKER_REQUIRE_SIGNATURE=1 needs MESOS_DOCKER_SIGNERS: the allowed-signers file published for mesos-docker releases"
  fi
  if [ "$md_require_sig" = 1 ] && [ -n "$md_local" ]; then
    md_die "MESOS_DOCKER_REQUIRE_SIGNATURE=1 cannot apply to MESOS_DOCKER_BINARY: a local binary is checked against MESOS_DOCKER_SHA256 only"
  fi

  md_dir=${MESOS_DOCKER_INSTALL_DIR:-/usr/local/bin}
  md_target=$md_dir/mesos-docker
  case ${MESOS_DOCKER_SKIP_SETUP:-0} in
    '' | 0) md_skip_setup= ;;
    *) md_skip_setup=1 ;;
  esac
}

# Refuses what no release exists for, naming what does.
md_check_platform() {
  md_os=$(uname -s)
  md_arch=$(uname -m)
  md_releases='x86_64 Linux (mesos-docker-x86_64-linux)'
  case $md_os/$md_arch in
    Linux/x86_64 | Linux/amd64) md_asset=mesos-docker-x86_64-linux ;;
    *) md_die "no mesos-docker release for $md_os $md_arch; releases exist for: $md_releases" ;;
  esac
  md_distro=unknown
  md_family=
  if [ -r /etc/os-release ]; then
    # A subshell keeps os-release's variables out of ours.
    # shellcheck source=/dev/null
    md_distro=$(. /etc/os-release && printf '%s\n' "${PRETTY_NAME:-${ID:-unknown}}")
    # shellcheck source=/dev/null
    md_family=$(. /etc/os-release && printf ' %s %s \n' "${ID:-}" "${ID_LIKE:-}")
  fi
  case $md_family in
    *' debian '* | *' ubuntu '*) ;;
    *)
      if [ -z "$md_skip_setup" ]; then
        md_die "mesos-docker setup supports Debian and Ubuntu, and this host is $md_distro; set MESOS_DOCKER_SKIP_SETUP=1 to install only the binary"
      fi
      ;;
  esac
}

# The nearest directory that exists, going up from $1.
md_existing_parent() {
  md_p=$1
  while [ ! -d "$md_p" ]; do
    case $md_p in
      */*) md_p=${md_p%/*} ;;
      *) md_p=. ;;
    esac
    [ -n "$md_p" ] || md_p=/
  done
  printf '%s\n' "$md_p"
}

# Piped into sh this script cannot re-exec itself under sudo: instead each
# command that needs root goes through md_as_root.
md_pick_privilege() {
  md_sudo=
  md_why_root=
  if [ ! -w "$(md_existing_parent "$md_dir")" ]; then
    md_why_root="writing $md_target"
  fi
  if [ -z "$md_skip_setup" ]; then
    md_why_root="${md_why_root:+$md_why_root and }running mesos-docker setup"
  fi
  [ -n "$md_why_root" ] || return 0
  [ "$(id -u)" -eq 0 ] && return 0
  if command -v sudo >/dev/null 2>&1; then
    md_sudo=sudo
    md_say "not root: using sudo for $md_why_root"
    # Ask for the password now, before anything is downloaded.
    sudo true || md_die "sudo failed; run this script as root instead"
    return 0
  fi
  md_die "$md_why_root needs root, this shell runs as $(id -un 2>/dev/null || id -u), and sudo is not installed. Run the installer as root (for example in a root shell: curl -fsSL <url>/install.sh | sh -s -- <setup arguments>), install sudo, or set MESOS_DOCKER_INSTALL_DIR to a directory you can write and MESOS_DOCKER_SKIP_SETUP=1 to install only the binary"
}

md_as_root() {
  if [ -n "$md_sudo" ]; then
    sudo "$@"
  else
    "$@"
  fi
}

md_cleanup() {
  if [ -n "${md_staged:-}" ]; then
    md_as_root rm -f "$md_staged"
    md_staged=
  fi
  if [ -n "${md_tmp:-}" ]; then
    rm -rf "$md_tmp"
    md_tmp=
  fi
}

md_make_workdir() {
  md_staged=
  md_tmp=$(mktemp -d "${TMPDIR:-/tmp}/mesos-docker-install.XXXXXX") ||
    md_die "cannot create a temporary directory under ${TMPDIR:-/tmp}"
  trap md_cleanup EXIT
  trap 'exit 129' HUP
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

md_pick_fetcher() {
  if command -v curl >/dev/null 2>&1; then
    md_fetcher=curl
  elif command -v wget >/dev/null 2>&1; then
    md_fetcher=wget
  else
    md_die "neither curl nor wget is installed: install one (apt-get install curl), or download the binary yourself and use MESOS_DOCKER_BINARY with MESOS_DOCKER_SHA256"
  fi
}

# The URL of one release file, by the layout described at the top.
md_asset_url() {
  if [ "$md_tag" != latest ]; then
    printf '%s/%s/%s\n' "$md_base" "$md_tag" "$1"
    return
  fi
  case $md_base in
    */releases/download) printf '%s/latest/download/%s\n' "${md_base%/download}" "$1" ;;
    *) printf '%s/latest/%s\n' "$md_base" "$1" ;;
  esac
}

# md_fetch URL DEST: downloads over HTTPS (plain HTTP only when the binary is
# pinned by MESOS_DOCKER_SHA256). On failure returns non-zero with the
# tool's complaint in $md_fetch_error.
md_fetch() {
  md_fetch_error=
  case $1 in
    https://*) ;;
    http://*)
      [ -n "$md_pin" ] ||
        md_die "refusing plain HTTP for $1: set MESOS_DOCKER_DOWNLOAD_URL to an https:// URL, or pin the binary with MESOS_DOCKER_SHA256"
      ;;
    *) md_die "cannot download '$1': MESOS_DOCKER_DOWNLOAD_URL must start with https://" ;;
  esac
  rm -f "$2"
  if [ "$md_fetcher" = curl ]; then
    md_proto='=https'
    [ -z "$md_pin" ] || md_proto='=https,http'
    set -- "$1" "$2" --fail --silent --show-error --location --retry 2 \
      --proto "$md_proto" --proto-redir "$md_proto" -o "$2"
    [ -z "$md_ca" ] || set -- "$@" --cacert "$md_ca"
    md_url=$1
    shift 2
    if curl "$@" "$md_url" 2>"$md_tmp/fetch.log"; then
      return 0
    fi
  else
    set -- "$1" "$2" --server-response --tries=3 -O "$2" -o "$md_tmp/fetch.log"
    [ -z "$md_ca" ] || set -- "$@" --ca-certificate="$md_ca"
    md_url=$1
    md_dest=$2
    shift 2
    if wget "$@" "$md_url"; then
      # wget follows redirects to plain HTTP; what came that way is not trusted.
      if [ -z "$md_pin" ] && grep -i '^ *location: *http:' "$md_tmp/fetch.log" >/dev/null; then
        rm -f "$md_dest"
        md_fetch_error="redirected to plain HTTP ($(grep -i '^ *location: *http:' "$md_tmp/fetch.log" | head -n 1 | sed 's/^ *//'))"
        return 1
      fi
      return 0
    fi
  fi
  md_fetch_error=$(grep -v '^ ' "$md_tmp/fetch.log" | grep -i -e error -e failed -e 'curl:' -e unable | head -n 3)
  [ -n "$md_fetch_error" ] || md_fetch_error=$(tail -n 2 "$md_tmp/fetch.log")
  [ -n "$md_fetch_error" ] || md_fetch_error="$md_fetcher failed and said nothing"
  md_fetch_error=$(printf '%s' "$md_fetch_error" | tr '\n' ' ' | sed 's/ *$//')
  return 1
}

# Prints the SHA-256 of a file with whichever tool the host has.
md_sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    md_sum=$(sha256sum <"$1") || return 1
    md_sum=${md_sum%% *}
    md_sum_tool=sha256sum
  elif command -v shasum >/dev/null 2>&1; then
    md_sum=$(shasum -a 256 <"$1") || return 1
    md_sum=${md_sum%% *}
    md_sum_tool='shasum -a 256'
  elif command -v openssl >/dev/null 2>&1; then
    md_sum=$(openssl dgst -sha256 <"$1") || return 1
    md_sum=${md_sum##* }
    md_sum_tool='openssl dgst -sha256'
  else
    md_die "no SHA-256 tool found: install coreutils (sha256sum), perl (shasum) or openssl"
  fi
  md_sum=$(printf '%s' "$md_sum" | tr 'A-F' 'a-f')
  md_is_sha256 "$md_sum" || md_die "$md_sum_tool printed no SHA-256 digest for $1"
}

# md_sums_entry SUMS NAME: sets md_entry to NAME's digest in a SHA256SUMS file.
md_sums_entry() {
  md_entry=
  while read -r md_l_sum md_l_name; do
    if [ "${md_l_name#\*}" = "$2" ]; then
      md_entry=$(printf '%s' "$md_l_sum" | tr 'A-F' 'a-f')
      md_is_sha256 "$md_entry" || md_die "SHA256SUMS has a malformed line for $2: '$md_l_sum $md_l_name'"
      return 0
    fi
  done <"$1"
  return 1
}

# A checksum fetched from the same server only proves the download is whole;
# the signature proves who published it.
md_check_signature() {
  if [ -z "$md_signers" ]; then
    md_say "SHA256SUMS is not signature-checked (set MESOS_DOCKER_SIGNERS to the published allowed-signers file to check it)"
    return 0
  fi
  command -v ssh-keygen >/dev/null 2>&1 ||
    md_die "checking the signature needs ssh-keygen: apt-get install openssh-client"
  md_sig_url=$(md_asset_url SHA256SUMS.sig)
  md_fetch "$md_sig_url" "$md_tmp/SHA256SUMS.sig" ||
    md_die "could not download the signature $md_sig_url: $md_fetch_error"
  if ! ssh-keygen -Y verify -f "$md_signers" -I "$md_identity" -n mesos-docker-release \
    -s "$md_tmp/SHA256SUMS.sig" <"$md_tmp/SHA256SUMS" >"$md_tmp/verify.log" 2>&1; then
    md_die "SHA256SUMS from $(md_asset_url SHA256SUMS) is not signed by $md_identity in $md_signers: $(tr '\n' ' ' <"$md_tmp/verify.log"); nothing installed"
  fi
  md_say "SHA256SUMS signature verified ($md_identity)"
}

# The version the installed binary reports, if one is installed and runs.
md_installed_version() {
  [ -x "$md_target" ] || return 1
  md_v=$("$md_target" --version 2>/dev/null) || return 1
  case $md_v in
    'mesos-docker '*) ;;
    *) return 1 ;;
  esac
  md_v=${md_v#mesos-docker }
  printf '%s\n' "${md_v%% *}"
}

# What to check when a release file cannot be downloaded.
md_missing_hint() {
  if [ "$md_tag" = latest ]; then
    printf 'Check MESOS_DOCKER_DOWNLOAD_URL=%s\n' "$md_base"
  else
    printf 'Is %s a released version? Check MESOS_DOCKER_VERSION=%s and MESOS_DOCKER_DOWNLOAD_URL=%s\n' \
      "$md_tag" "$md_version" "$md_base"
  fi
}

# Sets md_expected (and md_expected_from) from the pin and/or SHA256SUMS.
md_expected_digest() {
  md_expected=$md_pin
  md_expected_from=MESOS_DOCKER_SHA256
  if [ -n "$md_pin" ] && [ -z "$md_signers" ]; then
    return 0
  fi
  md_sums_url=$(md_asset_url SHA256SUMS)
  md_fetch "$md_sums_url" "$md_tmp/SHA256SUMS" ||
    md_die "could not download $md_sums_url: $md_fetch_error. $(md_missing_hint)"
  md_check_signature
  md_sums_entry "$md_tmp/SHA256SUMS" "$md_asset" ||
    md_die "$md_sums_url lists no $md_asset; releases exist for: $md_releases"
  if [ -n "$md_pin" ] && [ "$md_pin" != "$md_entry" ]; then
    md_die "MESOS_DOCKER_SHA256 is $md_pin but the signed SHA256SUMS says $md_entry for $md_asset; nothing installed"
  fi
  md_expected=$md_entry
  md_expected_from=$md_sums_url
}

# Whether the installed file is already the one we would install.
md_installed_matches() {
  [ -f "$md_target" ] || return 1
  md_sha256 "$md_target" || return 1
  [ "$md_sum" = "$md_expected" ]
}

# md_install_file SRC: copies SRC next to the target, checks it runs, fsyncs
# it and renames it over the target, so the target is always whole.
md_install_file() {
  md_as_root mkdir -p "$md_dir" || md_die "cannot create $md_dir"
  # The temporary name starts with mesos-docker: any other name makes the
  # binary act as the executor.
  md_staged=$(md_as_root mktemp "$md_dir/mesos-docker.tmp.XXXXXX") ||
    md_die "cannot create a file in $md_dir"
  md_as_root cp "$1" "$md_staged" || md_die "cannot write $md_staged"
  md_as_root chmod 0755 "$md_staged" || md_die "cannot make $md_staged executable"
  md_sha256 "$md_staged" || md_die "cannot read back $md_staged"
  [ "$md_sum" = "$md_expected" ] ||
    md_die "the copy in $md_dir changed while being written (sha256 $md_sum, expected $md_expected); nothing installed"
  if ! md_new_version=$("$md_staged" --version 2>&1); then
    md_die "the new binary does not run on this host ($md_distro): $md_new_version; nothing installed"
  fi
  md_as_root sync "$md_staged" 2>/dev/null || md_as_root sync
  md_as_root mv -f "$md_staged" "$md_target" || md_die "cannot rename $md_staged to $md_target"
  md_staged=
  md_say "installed $md_new_version at $md_target"
}

md_verify_download() {
  md_sha256 "$1" || md_die "cannot read $1"
  if [ "$md_sum" != "$md_expected" ]; then
    md_die "checksum mismatch for $2: expected sha256 $md_expected (from $md_expected_from), got $md_sum; nothing installed"
  fi
  md_say "sha256 $md_sum verified with $md_sum_tool"
}

# Installs the binary unless the same one is there already.
md_install() {
  if [ -n "$md_local" ]; then
    md_expected=$md_pin
    md_expected_from=MESOS_DOCKER_SHA256
    if md_installed_matches; then
      md_say "$md_target is already $md_local (sha256 $md_expected): nothing to install"
      return 0
    fi
    md_verify_download "$md_local" "$md_local"
    md_install_file "$md_local"
    return 0
  fi
  if [ "$md_tag" != latest ] && md_have=$(md_installed_version) && [ "v$md_have" = "$md_tag" ]; then
    md_say "mesos-docker $md_have is already installed at $md_target: nothing downloaded"
    return 0
  fi
  md_pick_fetcher
  md_expected_digest
  if md_installed_matches; then
    md_say "$md_target is already the $md_tag release (sha256 $md_expected): nothing downloaded"
    return 0
  fi
  md_bin_url=$(md_asset_url "$md_asset")
  md_say "downloading $md_bin_url"
  md_fetch "$md_bin_url" "$md_tmp/$md_asset" ||
    md_die "could not download $md_bin_url: $md_fetch_error. $(md_missing_hint)"
  md_verify_download "$md_tmp/$md_asset" "$md_bin_url"
  md_install_file "$md_tmp/$md_asset"
}

# Whether the arguments for setup already say --yes.
md_has_yes() {
  for md_a in "$@"; do
    case $md_a in
      --yes | -y) return 0 ;;
      --) return 1 ;;
    esac
  done
  return 1
}

# stdin is this very script, never the user: prompts read the terminal when
# there is one, and without one setup must not ask (--yes).
md_run_setup() {
  if [ -n "$md_skip_setup" ]; then
    md_say "MESOS_DOCKER_SKIP_SETUP is set: not running mesos-docker setup"
    return 0
  fi
  if (exec </dev/tty) 2>/dev/null; then
    md_as_root "$md_target" setup "$@" </dev/tty
    return
  fi
  if ! md_has_yes "$@"; then
    md_say "no terminal to ask questions on: passing --yes to mesos-docker setup"
    set -- --yes "$@"
  fi
  md_as_root "$md_target" setup "$@" </dev/null
}

md_main() {
  # The first argument is the count of the rest, written by the last line; a
  # mismatch means that line was cut short.
  if [ "$#" -eq 0 ] || [ "$1" != "$(($# - 1))" ]; then
    md_die "this script is incomplete (the download was cut short): download it again"
  fi
  shift
  set -u
  md_read_settings
  md_check_platform
  md_pick_privilege
  md_make_workdir
  md_install
  md_cleanup
  md_run_setup "$@"
}

md_main "$#" "$@"
