#!/usr/bin/env bash
# Installs, from Debian, the real peers the end-to-end tests drive: a remote
# MTA (postfix), SMTP and IMAP clients (swaks, mutt, mbsync, curl, Python),
# Dovecot for side-by-side benchmarks, DKIM and DNS tools, promtool,
# headless Chromium and PostgreSQL.
#
# Idempotent: it does nothing when every tool is present. Services are never
# started by the install; the tests start what they need on loopback.
set -euo pipefail

# command:package pairs; a command found on PATH (or at the given path)
# means the package is present.
needs=(
  postfix:postfix
  swaks:swaks
  mutt:mutt
  mbsync:isync
  curl:curl
  tmux:tmux
  python3:python3
  /usr/sbin/dovecot:dovecot-imapd
  opendkim-testmsg:opendkim-tools
  promtool:prometheus
  dig:dnsutils
  chromium:chromium
  '/usr/lib/postgresql/*/bin/postgres':postgresql
  ip:iproute2
  openssl:openssl
)

missing=()
for pair in "${needs[@]}"; do
  cmd=${pair%%:*}
  pkg=${pair#*:}
  if [[ $cmd == /* ]]; then
    compgen -G "$cmd" >/dev/null && continue
  elif command -v "$cmd" >/dev/null 2>&1 || [[ -x /usr/sbin/$cmd ]]; then
    continue
  fi
  missing+=("$pkg")
done

# swaks speaks STARTTLS through these Perl modules, which it only recommends.
if ! perl -MNet::SSLeay -MIO::Socket::SSL -e 1 >/dev/null 2>&1; then
  missing+=(libnet-ssleay-perl libio-socket-ssl-perl)
fi

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  SUDO=sudo
else
  SUDO=
fi

echo "install-test-deps: installing ${missing[*]}" >&2

# Keep package scripts from starting daemons (postfix, dovecot, postgresql).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  created_policy=1
fi
cleanup() {
  if [[ $created_policy -eq 1 ]]; then $SUDO rm -f "$policy"; fi
}
trap cleanup EXIT

echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
echo "postfix postfix/mailname string localhost" | $SUDO debconf-set-selections

apt_opts=(-o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
$SUDO apt-get "${apt_opts[@]}" update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-test-deps: done" >&2
