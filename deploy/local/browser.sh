#!/usr/bin/env bash
# Debian's Chromium for the gateway's browser tests (Playwright drives it; Playwright's own browser
# download cannot work offline). Idempotent: does nothing when /usr/bin/chromium exists.
# Usage: browser.sh [install|status]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CHROMIUM="${TELLWELL_CHROMIUM:-/usr/bin/chromium}"

case "${1:-install}" in
  status)
    [ -x "$CHROMIUM" ] || { info "chromium missing at $CHROMIUM"; exit 1; }
    info "chromium: $("$CHROMIUM" --version 2>/dev/null || echo present)" ;;
  install)
    if [ -x "$CHROMIUM" ]; then info "chromium present at $CHROMIUM"; exit 0; fi
    command -v apt-get >/dev/null 2>&1 || die "chromium missing at $CHROMIUM and no apt-get: install Chromium by hand"
    sudo_cmd=""
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null 2>&1 || die "installing chromium needs root (or sudo)"
      sudo_cmd="sudo"
    fi
    info "installing Debian's chromium (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    $sudo_cmd apt-get update -qq >"$LOGS/apt-chromium.log" 2>&1 \
      || die "apt-get update failed (see $LOGS/apt-chromium.log)"
    $sudo_cmd apt-get install -y -qq --no-install-recommends chromium >>"$LOGS/apt-chromium.log" 2>&1 \
      || die "apt-get install chromium failed (see $LOGS/apt-chromium.log)"
    [ -x "$CHROMIUM" ] || die "chromium installed but $CHROMIUM is missing"
    info "chromium installed: $("$CHROMIUM" --version 2>/dev/null || echo ok)" ;;
  *) die "usage: $0 [install|status]" ;;
esac
