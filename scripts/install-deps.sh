#!/usr/bin/env bash
# install-deps.sh installs the Debian packages the integration tests, the
# benchmarks and `tributary demo` need: MariaDB and PostgreSQL servers (the
# harness starts its own instances of them in temp dirs), sysbench, kcat, and
# prometheus for promtool, which checks and unit-tests the alert rules.
#
# It is idempotent: it installs only the packages that are missing and runs
# `apt-get update` at most once. It never starts, stops or reconfigures the
# system MariaDB or PostgreSQL services; if installing a package starts its
# service, that service is left running.
#
# Usage: scripts/install-deps.sh        (as root, or with sudo available)
set -euo pipefail

packages=(mariadb-server mariadb-client postgresql sysbench kcat prometheus)

log() { printf 'install-deps: %s\n' "$*"; }

if [[ $(id -u) -eq 0 ]]; then
	sudo=()
elif command -v sudo >/dev/null 2>&1; then
	sudo=(sudo)
else
	log "not root and sudo is missing: run as root" >&2
	exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
	log "apt-get not found: this script supports Debian and Ubuntu; install ${packages[*]} by hand" >&2
	exit 1
fi

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for pkg in "${packages[@]}"; do
	if installed "$pkg"; then
		log "$pkg: already installed"
	else
		log "$pkg: missing"
		missing+=("$pkg")
	fi
done

# Node.js and npm run icebird, the independent Iceberg reader of the lake
# tests. A Node.js from elsewhere (nodesource) is fine as it is.
if command -v npm >/dev/null 2>&1; then
	log "npm: already installed"
else
	log "npm: missing"
	missing+=(nodejs npm)
fi

if [[ ${#missing[@]} -eq 0 ]]; then
	log "nothing to install"
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
log "running apt-get update"
"${sudo[@]}" apt-get update -q
log "installing: ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}"

# Check that the binaries the harness runs are where it looks for them.
for bin in mariadbd:/usr/sbin/mariadbd mariadb-install-db:/usr/bin/mariadb-install-db \
	sysbench:/usr/bin/sysbench kcat:/usr/bin/kcat promtool:/usr/bin/promtool; do
	name=${bin%%:*}
	path=${bin#*:}
	if command -v "$name" >/dev/null 2>&1 || [[ -x $path ]]; then
		log "$name: ok"
	else
		log "$name: still missing after install" >&2
		exit 1
	fi
done
if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
	log "postgresql initdb: ok"
else
	log "postgresql initdb: still missing after install" >&2
	exit 1
fi
log "done"
