#!/usr/bin/env bash
# Make sure the servers and the browser some tests need (redis-server, PostgreSQL's initdb/postgres,
# Chromium for the dashboard's browser tests) are installed. Installs them from Debian's packages when
# it can (root and apt-get); otherwise says how, and the tests that need them skip with that message --
# except under CI (CI=true), where they fail. The browser is Debian's: nothing downloads one at run time.
set -u

have_redis() { command -v redis-server >/dev/null 2>&1; }
have_postgres() { command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }
have_chromium() { [ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1; }

missing=()
have_redis || missing+=(redis-server)
have_postgres || missing+=(postgresql)
have_chromium || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} (Debian packages) for the tests that need a real server or browser"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    exit $?
fi
echo "note: ${missing[*]} not installed and cannot be installed here (needs root and apt-get);"
echo "      install with: sudo apt-get install ${missing[*]}   -- tests that need them will skip"
# CI must run every test: there the tests that need them fail, so say it here first.
[ "${CI:-}" = "true" ] && exit 1
exit 0
