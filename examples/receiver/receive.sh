#!/bin/bash
# One HTTP request on stdin, its answer on stdout (socat's EXEC). A POST's
# body is appended to $RECEIVER_LOG, one line each, and logged; a GET
# answers that file.
set -u
export LC_ALL=C # so that ${#s} counts bytes, as Content-Length does
log=${RECEIVER_LOG:-/var/lib/receiver/callbacks.ndjson}
touch "$log"

reply() {
    printf 'HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
        "$1" "$2" "${#3}" "$3"
}

IFS=' ' read -r method target _ || exit 0
len=0 id=-
while IFS= read -r line; do
    line=${line%$'\r'}
    [ -z "$line" ] && break
    case ${line,,} in
    content-length:*) len=${line#*:}; len=${len//[!0-9]/}; len=${len:-0} ;;
    webhook-id:*) id=${line#*:}; id=${id//[!A-Za-z0-9_-]/} ;;
    esac
done

case $method in
POST)
    # The example's callbacks are a few KiB; the cap keeps a stray client
    # from filling the disk.
    if [ "${#len}" -gt 9 ] || [ "$len" -gt 1048576 ]; then
        reply '413 Content Too Large' text/plain ''
        exit 0
    fi
    body=$(head -c "$len")
    printf '%s\n' "$body" >>"$log"
    echo "received POST ${target//[!A-Za-z0-9\/._~-]/?} webhook-id=$id bytes=$len" >&2
    reply '204 No Content' text/plain ''
    ;;
GET)
    reply '200 OK' application/x-ndjson "$(cat "$log")"$'\n'
    ;;
*)
    reply '405 Method Not Allowed' text/plain ''
    ;;
esac
