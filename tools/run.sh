#!/bin/sh
# `make run`: first time, writes ./var/tern.conf (domain localhost, data under ./var)
# and two demo accounts; every time, prints how to connect and runs ternd in the
# foreground. ternd creates its self-signed certificate in ./var on first start.
set -eu
build=${1:-build}
var=./var
conf=$var/tern.conf
users=$var/demo-users.txt

mkdir -p "$var"
chmod 700 "$var"
if [ ! -f "$conf" ]; then
    cat > "$conf" <<CONF
# Written by 'make run'. Every directive is documented in doc/config.md.
domain = localhost
data_dir = $var

[log]
level = info
CONF
    echo "wrote $conf"
fi

if [ ! -f "$users" ]; then
    umask 077
    : > "$users"
    for u in alice bob; do
        pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
        if printf '%s\n' "$pw" | "$build/ternctl" -c "$conf" user add "$u@localhost"; then
            echo "$u@localhost $pw" >> "$users"
        fi
    done
fi

port=$(sed -n 's/^[[:space:]]*port[[:space:]]*=[[:space:]]*\([0-9]*\).*/\1/p' "$conf" | head -n 1)
port=${port:-5222}
cat <<MSG

  tern is starting on port $port (STARTTLS; self-signed certificate in $var).
  Demo accounts (from $users):
$(sed 's/^/    /' "$users")

  Connect with profanity:
    profanity, then:  /connect alice@localhost server 127.0.0.1 port $port tls trust
  Send a message with go-sendxmpp:
    echo hello | go-sendxmpp -u alice@localhost -p PASSWORD -j 127.0.0.1:$port --no-tls-verify bob@localhost
  More accounts:
    $build/ternctl -c $conf user add carol@localhost

  Stop with Ctrl-C.

MSG
exec "$build/ternd" -c "$conf"
