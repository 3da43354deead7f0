#!/usr/bin/env bash
# The whole local stack: Kafka + FerretDB. (Vectors need no server: Qdrant Edge runs in-process.)
# Usage: stack.sh install|up|down|status
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
here="$(dirname "${BASH_SOURCE[0]}")"
case "${1:-}" in
  install|up|down) "$here/kafka.sh" "$1" && "$here/ferretdb.sh" "$1" ;;
  status) rc=0; "$here/kafka.sh" status || rc=1; "$here/ferretdb.sh" status || rc=1; exit $rc ;;
  *) die "usage: $0 install|up|down|status" ;;
esac
